;;; atlas-lsp.el --- A local code model that runs your tests before it proposes an edit -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: languages, tools
;; URL: https://github.com/atlas-lsp/atlas_lsp
;; SPDX-License-Identifier: Apache-2.0

;;; Commentary:

;; Registers the atlas-lsp language server with eglot (and with lsp-mode when it is installed):
;;
;;   (require 'atlas-lsp)
;;   (atlas-lsp-setup)
;;   (add-hook 'python-mode-hook #'eglot-ensure)
;;
;; Completions arrive through `completion-at-point' (eglot has no inline completion; the server sends one item
;; carrying the whole multi-line suggestion, already indented).  `M-x atlas-solve-function' asks the server to
;; write candidates for the function at point, run the project's tests on them in a sandbox and propose the edit
;; that passes; `M-x atlas-cancel-solve' stops it; `M-x atlas-status' shows the model and the counters.

;;; Code:

(require 'cl-lib)
(require 'subr-x)

(defgroup atlas-lsp nil
  "A local code model in your editor, verified by your tests."
  :group 'tools
  :prefix "atlas-lsp-")

(defcustom atlas-lsp-server-command '("atlas-lsp")
  "How to start the server, e.g. (\"~/.venvs/atlas/bin/atlas-lsp\")."
  :type '(repeat string))

(defcustom atlas-lsp-modes
  '(python-mode python-ts-mode js-mode js-ts-mode typescript-mode typescript-ts-mode tsx-ts-mode
                go-mode go-ts-mode rust-mode rust-ts-mode)
  "Major modes whose buffers atlas-lsp serves."
  :type '(repeat symbol))

(defcustom atlas-lsp-settings nil
  "The server's settings tree as a plist, sent as initializationOptions and as the `atlas' section.
For example: (:model (:path \"~/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf\") :solve (:candidates 4))."
  :type 'plist)

(defvar atlas-lsp-status nil
  "The last atlas/status notification, as a plist (:state :message :model :device ...).")

(defvar atlas-lsp-progress-log nil
  "Messages of atlas's work-done progress, newest first: (TOKEN KIND MESSAGE).")

(defvar atlas-lsp-last-job nil
  "The id of the last solve started from this Emacs.")

(defvar atlas-lsp--last-error nil)

;;; Shared by both clients

(defun atlas-lsp--on-status (params)
  "Remember the atlas/status PARAMS and say so when the model or endpoint fails."
  (setq atlas-lsp-status params)
  (let ((state (plist-get params :state))
        (text (plist-get params :message)))
    (cond ((and (equal state "error") (not (equal text atlas-lsp--last-error)))
           (setq atlas-lsp--last-error text)
           (message "atlas: %s" text))
          ((equal state "ready") (setq atlas-lsp--last-error nil))))
  (force-mode-line-update t))

(defun atlas-lsp--on-progress (token value)
  "Log and echo atlas's work-done progress (TOKEN, VALUE)."
  (when (and (stringp token) (string-prefix-p "atlas-" token))
    (let* ((kind (plist-get value :kind))
           (text (or (plist-get value :message) (plist-get value :title) "")))
      (push (list token kind text) atlas-lsp-progress-log)
      (message "atlas: %s%s" text (if (equal kind "end") " (done)" "")))))

(defun atlas-lsp-mode-line ()
  "A short text for the mode line: atlas:ready, atlas:loading, atlas:error."
  (when atlas-lsp-status
    (format " atlas:%s" (plist-get atlas-lsp-status :state))))

(defun atlas-lsp--get (object key)
  "KEY (a string) of a JSON OBJECT, parsed as a plist (eglot) or a hash table (lsp-mode)."
  (if (hash-table-p object)
      (gethash key object)
    (plist-get object (intern (concat ":" key)))))

(defun atlas-lsp--command-of (action)
  "The command of ACTION (a CodeAction carrying a command, or a bare Command)."
  (let ((command (atlas-lsp--get action "command")))
    (if (stringp command) action command)))

(defun atlas-lsp--solve-action (actions)
  "The `atlas.solveFunction' command among ACTIONS, or nil."
  (cl-some (lambda (action)
             (let ((command (atlas-lsp--command-of action)))
               (and (equal (atlas-lsp--get command "command") "atlas.solveFunction") command)))
           (append actions nil)))

(defun atlas-lsp--function-name (command)
  "The function name in an `atlas.solveFunction' COMMAND's first argument."
  (atlas-lsp--get (aref (atlas-lsp--get command "arguments") 0) "name"))

(defun atlas-lsp--started (result name)
  "Report the solve's RESULT for function NAME."
  (if (equal (atlas-lsp--get result "status") "started")
      (progn (setq atlas-lsp-last-job (atlas-lsp--get result "job"))
             (message "atlas: solving %s (job %s; M-x atlas-cancel-solve stops it)" name atlas-lsp-last-job))
    (message "atlas: the solve did not start: %s" (atlas-lsp--get result "message"))))

;;; eglot

(defvar eglot-server-programs)
(declare-function eglot--current-server-or-lose "eglot")
(declare-function eglot--TextDocumentIdentifier "eglot")
(declare-function eglot--pos-to-lsp-position "eglot" (&optional pos))
(declare-function eglot-current-server "eglot")
(declare-function jsonrpc-request "jsonrpc")

(defun atlas-lsp--eglot-contact (&optional _interactive)
  "How eglot starts the server: our server class, the command and the settings."
  `(atlas-lsp-eglot-server ,@atlas-lsp-server-command
                           :initializationOptions ,(or atlas-lsp-settings (make-hash-table))))

(with-eval-after-load 'eglot
  (defclass atlas-lsp-eglot-server (eglot-lsp-server) ()
    :documentation "atlas-lsp under eglot: progress, status and settings.")

  (cl-defmethod eglot-client-capabilities :around ((_server atlas-lsp-eglot-server))
    ;; eglot 1.9 does not announce work-done progress; the solve reports through it, so ask for it here
    (let ((capabilities (cl-call-next-method)))
      (plist-put capabilities :window
                 (plist-put (copy-sequence (plist-get capabilities :window)) :workDoneProgress t))))

  (cl-defmethod eglot-handle-request ((_server atlas-lsp-eglot-server)
                                      (_method (eql window/workDoneProgress/create)) &rest _params)
    nil)

  (cl-defmethod eglot-handle-notification ((_server atlas-lsp-eglot-server) (_method (eql $/progress))
                                           &key token value &allow-other-keys)
    (atlas-lsp--on-progress token value))

  (cl-defmethod eglot-handle-notification ((_server atlas-lsp-eglot-server) (_method (eql atlas/status))
                                           &rest params)
    (atlas-lsp--on-status params)))

(defun atlas-lsp--eglot-solve ()
  (let* ((server (eglot--current-server-or-lose))
         (here (eglot--pos-to-lsp-position))
         (actions (jsonrpc-request server :textDocument/codeAction
                                   (list :textDocument (eglot--TextDocumentIdentifier)
                                         :range (list :start here :end here)
                                         :context (list :diagnostics []))))
         (command (atlas-lsp--solve-action actions)))
    (unless command (user-error "atlas: no function at point to solve (solving works on functions in saved files whose tests run with pytest, jest, vitest, mocha, jasmine, ava, tap, uvu, bun test, deno test, node --test, cargo test or go test)"))
    (atlas-lsp--started (jsonrpc-request server :workspace/executeCommand
                                         (list :command (plist-get command :command)
                                               :arguments (plist-get command :arguments)))
                        (atlas-lsp--function-name command))))

;;; lsp-mode

(declare-function lsp-register-client "lsp-mode")
(declare-function make-lsp-client "lsp-mode")
(declare-function lsp-stdio-connection "lsp-mode")
(declare-function lsp-request "lsp-mode")
(declare-function lsp--text-document-identifier "lsp-mode")
(declare-function lsp--cur-position "lsp-mode")

(defun atlas-lsp--lsp-mode-register ()
  "Register atlas-lsp with lsp-mode, as an add-on beside the language's own server."
  (let ((handlers (make-hash-table :test 'equal)))
    (puthash "atlas/status" (lambda (_workspace params) (atlas-lsp--on-status (atlas-lsp--plist params))) handlers)
    (lsp-register-client
     (make-lsp-client :new-connection (lsp-stdio-connection (lambda () atlas-lsp-server-command))
                      :activation-fn (lambda (_file mode) (memq mode atlas-lsp-modes))
                      :server-id 'atlas-lsp
                      :add-on? t
                      :priority -2
                      :initialization-options (lambda () atlas-lsp-settings)
                      :notification-handlers handlers))))

(defun atlas-lsp--plist (object)
  "OBJECT as a plist, deeply (lsp-mode deserializes JSON objects into hash tables)."
  (cond ((hash-table-p object)
         (let (plist)
           (maphash (lambda (key value)
                      (setq plist (plist-put plist (intern (concat ":" key)) (atlas-lsp--plist value))))
                    object)
           plist))
        ((vectorp object) (vconcat (mapcar #'atlas-lsp--plist object)))
        (t object)))

(defun atlas-lsp--lsp-mode-solve ()
  (let* ((here (lsp--cur-position))
         (actions (lsp-request "textDocument/codeAction"
                               (list :textDocument (lsp--text-document-identifier)
                                     :range (list :start here :end here)
                                     :context (list :diagnostics []))))
         (command (atlas-lsp--solve-action actions)))
    (unless command (user-error "atlas: no function at point to solve (solving works on functions in saved files whose tests run with pytest, jest, vitest, mocha, jasmine, ava, tap, uvu, bun test, deno test, node --test, cargo test or go test)"))
    (atlas-lsp--started (lsp-request "workspace/executeCommand"
                                     (list :command (atlas-lsp--get command "command")
                                           :arguments (atlas-lsp--get command "arguments")))
                        (atlas-lsp--function-name command))))

;;; Commands

(defun atlas-lsp--client ()
  (cond ((and (bound-and-true-p eglot--managed-mode) (fboundp 'eglot-current-server) (eglot-current-server)) 'eglot)
        ((bound-and-true-p lsp-mode) 'lsp-mode)
        (t (user-error "atlas: this buffer is not managed by eglot or lsp-mode (M-x eglot)"))))

(defun atlas-lsp--execute (command &optional arguments)
  (if (eq (atlas-lsp--client) 'eglot)
      (jsonrpc-request (eglot--current-server-or-lose) :workspace/executeCommand
                       (list :command command :arguments (or arguments [])))
    (atlas-lsp--plist (lsp-request "workspace/executeCommand" (list :command command :arguments (or arguments []))))))

;;;###autoload
(defun atlas-solve-function ()
  "Solve the function at point: candidates, the project's tests in a sandbox, repair, then a proposed edit.
The server answers at once and works in the background; progress is echoed, and the edit arrives with the
evidence (\"2/2 selected tests pass: ...\")."
  (interactive)
  (if (eq (atlas-lsp--client) 'eglot) (atlas-lsp--eglot-solve) (atlas-lsp--lsp-mode-solve)))

;;;###autoload
(defun atlas-cancel-solve ()
  "Cancel the last solve started from this Emacs (or every running one)."
  (interactive)
  (let* ((arguments (if atlas-lsp-last-job (vector (list :job atlas-lsp-last-job)) []))
         (cancelled (append (plist-get (atlas-lsp--execute "atlas.cancelSolve" arguments) :cancelled) nil)))
    (message "atlas: %s" (if cancelled (format "cancelled %s" (string-join cancelled ", ")) "no solve is running"))))

;;;###autoload
(defun atlas-status ()
  "Show the model's status and the completion counters."
  (interactive)
  (let* ((report (atlas-lsp--execute "atlas.status"))
         (counts (plist-get report :completions)))
    (message (concat "atlas: %s — %s\n  model %s on %s (backend %s)\n  completions: %s shown, %s accepted, "
                     "%s from cache (%s computed ahead while the one before was shown)")
             (plist-get report :state) (plist-get report :message) (plist-get report :model)
             (plist-get report :device) (plist-get report :backend)
             (plist-get counts :shown) (plist-get counts :accepted) (plist-get counts :cacheHits)
             (plist-get counts :speculationHits))))

;;;###autoload
(defun atlas-lsp-setup ()
  "Register atlas-lsp with eglot (and lsp-mode when it is loaded) for `atlas-lsp-modes'."
  (with-eval-after-load 'eglot
    (add-to-list 'eglot-server-programs (cons atlas-lsp-modes #'atlas-lsp--eglot-contact)))
  (with-eval-after-load 'lsp-mode
    (atlas-lsp--lsp-mode-register))
  (unless (member '(:eval (atlas-lsp-mode-line)) mode-line-misc-info)
    (push '(:eval (atlas-lsp-mode-line)) mode-line-misc-info)))

(provide 'atlas-lsp)
;;; atlas-lsp.el ends here
