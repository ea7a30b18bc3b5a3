;; memories: 8 more linear memories of 256 MiB each (4096 pages, their
;; minimum: instantiation creates them at that size), 2 GiB in all;
;; transform-read writes a byte to every page of each, so they are resident.
;; @decls x8
(memory $m{i} 4096)
;; @read x8
(local.set $p (i32.const 0))
(loop $touch{i}
  (i32.store8 $m{i} (local.get $p) (i32.const 1))
  (local.set $p (i32.add (local.get $p) (i32.const 4096)))
  (br_if $touch{i} (i32.lt_u (local.get $p) (i32.const 0x1000_0000))))
