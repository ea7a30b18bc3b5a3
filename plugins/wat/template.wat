;; The skeleton every hand-written guest is made from (tests/common/wat_guest.rs
;; fills it in): a core module that implements the read-plugin side of
;; wit/xform.wit by hand, against the component model's canonical ABI with
;; wit-component's legacy name mangling (`eva:xform/plugin@0.2.0#describe`…).
;; As it is (see echo.wat), a well-behaved guest: `init` and `finish` succeed
;; and `transform-read` returns the batch it was given.
;;
;; Each `;; @slot` line below is replaced by the fragments of that slot from
;; a guest's file; @NAME@ and @NAME_LEN@ by the guest's name (its file stem)
;; and the name's length in bytes.
;;
;; Memory 0, exported as `memory`:
;;        0  scratch: the list<borrow<pollable>> handed to `poll`
;;        8  scratch: the return area of `poll` (list<u32> as ptr, len)
;;       32  the return area of init, finish and transform-read:
;;           result<_, xform-error>, result<string, xform-error> and
;;           result<list<node>, xform-error> all put their discriminant (u8)
;;           at +0 and their payload (ptr, len) at +4 and +8
;;       64  describe's record: name, version, hooks, wit-version, each a
;;           (ptr, len) pair of i32s
;;       96  the hooks list: one byte, `read` (0)
;;      128  "0.1.0" (version);  160 "0.2.0" (wit-version);  192 the name
;;     1024  the heap of cabi_realloc, reset after each transform-read
(module
  ;; @imports
  (memory $mem (export "memory") 1)
  ;; @decls
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 96) "\00")
  (data (i32.const 128) "0.1.0")
  (data (i32.const 160) "0.2.0")
  (data (i32.const 192) "@NAME@")

  ;; cabi_realloc(old ptr, old size, align, new size) -> ptr: a bump
  ;; allocator that grows memory 0 when the heap reaches its end.
  (func $realloc (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $size i32)
    (result i32)
    (local $ptr i32) (local $end i32) (local $have i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (local.set $have (i32.shl (memory.size $mem) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow $mem
                (i32.shr_u
                  (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 0xffff))
                  (i32.const 16)))
              (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (if (local.get $old)
      (then (memory.copy $mem $mem (local.get $ptr) (local.get $old) (local.get $old_size))))
    (local.get $ptr))

  ;; describe: func() -> description (returned through a pointer).
  (func (export "eva:xform/plugin@0.2.0#describe") (result i32)
    ;; @describe
    (i32.store $mem offset=0 (i32.const 64) (i32.const 192))
    (i32.store $mem offset=4 (i32.const 64) (i32.const @NAME_LEN@))
    (i32.store $mem offset=8 (i32.const 64) (i32.const 128))
    (i32.store $mem offset=12 (i32.const 64) (i32.const 5))
    (i32.store $mem offset=16 (i32.const 64) (i32.const 96))
    (i32.store $mem offset=20 (i32.const 64) (i32.const 1))
    (i32.store $mem offset=24 (i32.const 64) (i32.const 160))
    (i32.store $mem offset=28 (i32.const 64) (i32.const 5))
    (i32.const 64))

  ;; init: func(config: list<tuple<string, string>>) -> result<_, xform-error>.
  (func (export "eva:xform/plugin@0.2.0#init")
    (param $config i32) (param $config_len i32) (result i32)
    ;; @init
    (i32.store8 $mem (i32.const 32) (i32.const 0))
    (i32.const 32))

  ;; finish: func() -> result<string, xform-error>: ok("").
  (func (export "eva:xform/plugin@0.2.0#finish") (result i32)
    ;; @finish
    (i32.store8 $mem (i32.const 32) (i32.const 0))
    (i32.store $mem offset=4 (i32.const 32) (i32.const 0))
    (i32.store $mem offset=8 (i32.const 32) (i32.const 0))
    (i32.const 32))

  ;; transform-read: func(nodes: list<node>) -> result<list<node>, xform-error>:
  ;; ok(nodes), the list the host wrote into this memory, as it is.
  (func (export "eva:xform/read-xform@0.2.0#transform-read")
    (param $nodes i32) (param $len i32) (result i32)
    (local $i i32) (local $p i32)
    ;; @read
    (i32.store8 $mem (i32.const 32) (i32.const 0))
    (i32.store $mem offset=4 (i32.const 32) (local.get $nodes))
    (i32.store $mem offset=8 (i32.const 32) (local.get $len))
    (i32.const 32))

  ;; After the host has read transform-read's result: free the heap.
  (func (export "cabi_post_eva:xform/read-xform@0.2.0#transform-read") (param i32)
    (global.set $heap (i32.const 1024)))
)
