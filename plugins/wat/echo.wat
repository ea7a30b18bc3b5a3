;; echo: the template (template.wat) as it is, with no fragments: a
;; well-behaved guest whose read hook returns every batch unchanged. It
;; proves the hand-written canonical ABI, so a failure of the hostile guests
;; below is theirs, not the harness's.
