;; init-sleep: init blocks for 30 s on a monotonic-clock pollable (loading
;; calls init, so the load must time out).
;; @imports
(import "wasi:clocks/monotonic-clock@0.2.0" "subscribe-duration"
  (func $subscribe_duration (param i64) (result i32)))
(import "wasi:io/poll@0.2.0" "[method]pollable.block" (func $block (param i32)))
;; @init
(call $block (call $subscribe_duration (i64.const 30_000_000_000)))
