;; poll-loop: transform-read polls, forever, on a fresh 1 ms pollable each
;; time (each poll returns; the loop never ends).
;; @imports
(import "wasi:clocks/monotonic-clock@0.2.0" "subscribe-duration"
  (func $subscribe_duration (param i64) (result i32)))
(import "wasi:io/poll@0.2.0" "poll" (func $poll (param i32 i32 i32)))
(import "wasi:io/poll@0.2.0" "[resource-drop]pollable" (func $drop_pollable (param i32)))
;; @read
(loop $again
  (i32.store $mem (i32.const 0) (call $subscribe_duration (i64.const 1_000_000)))
  (call $poll (i32.const 0) (i32.const 1) (i32.const 8))
  (call $drop_pollable (i32.load $mem (i32.const 0)))
  ;; poll's result list came from cabi_realloc: free it
  (global.set $heap (i32.const 1024))
  (br $again))
