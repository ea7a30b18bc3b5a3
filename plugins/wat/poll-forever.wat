;; poll-forever: transform-read polls on a pollable for the last instant
;; the monotonic clock can name (u64::MAX): one poll that never returns.
;; @imports
(import "wasi:clocks/monotonic-clock@0.2.0" "subscribe-instant"
  (func $subscribe_instant (param i64) (result i32)))
(import "wasi:io/poll@0.2.0" "poll" (func $poll (param i32 i32 i32)))
;; @read
(i32.store $mem (i32.const 0) (call $subscribe_instant (i64.const -1)))
(call $poll (i32.const 0) (i32.const 1) (i32.const 8))
