;;; emacs_test_helpers.el --- shared by the Emacs sessions the editor tests run -*- lexical-binding: t; -*-
(require 'json)

(defvar atlas-test-result nil)

(defun atlas-test-put (key value)
  (setq atlas-test-result (plist-put atlas-test-result key value)))

(defun atlas-test-wait (seconds predicate)
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall predicate)))

(defun atlas-test-configure (project)
  "Point atlas-lsp.el at the server under test, logging next to PROJECT."
  (setq atlas-lsp-server-command
        (list (getenv "ATLAS_PYTHON") "-m" "atlas_lsp" "--log-file" (expand-file-name "../server.log" project))))

(defun atlas-test-finish (run)
  "Call RUN, record any error, write the result as JSON to $ATLAS_OUT and leave Emacs."
  (condition-case error
      (funcall run)
    (error (atlas-test-put :error (format "%S" error))))
  (with-temp-file (getenv "ATLAS_OUT")
    (insert (json-encode atlas-test-result)))
  (kill-emacs 0))

(provide 'emacs_test_helpers)
