;; describe-loop: describe spins forever (loading calls describe).
;; @describe
(loop $forever (br $forever))
