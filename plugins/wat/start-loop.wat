;; start-loop: the core module's start function spins forever, so
;; instantiating the component never ends.
;; @decls
(start $spin)
(func $spin (loop $forever (br $forever)))
