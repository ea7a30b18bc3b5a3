;; tables: 20 tables of 1,048,576 funcref entries each (their minimum, so
;; instantiation creates them full size: 8 MiB of host memory a table);
;; transform-read fills every entry of each so they are resident.
;; @decls
(func $noop)
(elem declare func $noop)
;; @decls x20
(table $t{i} 1048576 funcref)
;; @read x20
(table.fill $t{i} (i32.const 0) (ref.func $noop) (table.size $t{i}))
