;; memories-grow: 8 more linear memories of one page each; transform-read
;; grows each by 256 MiB the first time (memory.grow; a refused growth
;; traps) and writes a byte to every page, 2 GiB in all.
;; @decls x8
(memory $m{i} 1)
;; @read x8
(if (i32.eq (memory.size $m{i}) (i32.const 1))
  (then
    (if (i32.eq (memory.grow $m{i} (i32.const 4096)) (i32.const -1))
      (then unreachable))))
(local.set $p (i32.const 0))
(loop $touch{i}
  (i32.store8 $m{i} (local.get $p) (i32.const 1))
  (local.set $p (i32.add (local.get $p) (i32.const 4096)))
  (br_if $touch{i} (i32.lt_u (local.get $p) (i32.shl (memory.size $m{i}) (i32.const 16)))))
