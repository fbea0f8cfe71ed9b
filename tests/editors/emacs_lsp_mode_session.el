;;; emacs_lsp_mode_session.el --- drives atlas-lsp.el with lsp-mode in a real Emacs (batch) -*- lexical-binding: t; -*-
;; Environment: ATLAS_EL, ATLAS_PYTHON, ATLAS_PROJECT, ATLAS_OUT (JSON written here).
(package-initialize)
(setq lsp-auto-guess-root t lsp-restart 'ignore lsp-enable-file-watchers nil lsp-keep-workspace-alive nil
      lsp-enable-snippet nil lsp-headerline-breadcrumb-enable nil lsp-modeline-code-actions-enable nil
      lsp-lens-enable nil lsp-enable-on-type-formatting nil lsp-enable-indentation nil
      lsp-session-file (expand-file-name "lsp-session" temporary-file-directory)
      lsp-disabled-clients '(pyls pylsp mspyls pyright jedi ruff-lsp semgrep-ls))
(require 'lsp-mode)
(load (getenv "ATLAS_EL") nil t)
(load (expand-file-name "emacs_test_helpers.el" (file-name-directory load-file-name)) nil t)

(defun atlas-test-run ()
  (let ((project (file-name-as-directory (getenv "ATLAS_PROJECT"))))
    (atlas-test-configure project)
    (setq atlas-lsp-settings '(:completion (:debounceMs 0 :timeLimitMs 60000) :solve (:candidates 4 :repairRounds 1)))
    (atlas-lsp-setup)
    (find-file (expand-file-name "calc.py" project))
    (lsp)
    (atlas-test-put :ready (if (atlas-test-wait 120 (lambda () (equal (plist-get atlas-lsp-status :state) "ready")))
                               t :json-false))
    (atlas-test-put :lsp-mode (if (bound-and-true-p lsp-mode) t :json-false))
    (goto-char (point-min)) (forward-line 5) (back-to-indentation)
    (atlas-solve-function)
    (atlas-test-put :job (or atlas-lsp-last-job :json-false))
    (atlas-test-put :solved (if (atlas-test-wait 240 (lambda () (not (string-match-p "    pass\n" (buffer-string)))))
                                t :json-false))
    (atlas-test-put :after-solve (buffer-substring-no-properties (point-min) (point-max)))
    (atlas-test-put :status (plist-get (atlas-lsp--execute "atlas.status") :state))))

(atlas-test-finish #'atlas-test-run)
