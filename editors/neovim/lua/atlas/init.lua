-- atlas-lsp for Neovim: starts the server, shows ghost text, runs "solve this function", reports status.
--
--   require("atlas").setup({ settings = { model = { path = "~/models/qwen2.5-coder-1.5b-q4_k_m.gguf" } } })
--
-- Neovim 0.11+ registers the server with vim.lsp.config/vim.lsp.enable; 0.7-0.10 start it on FileType.
-- Neovim 0.12 shows the server's inline completions natively (vim.lsp.inline_completion); older versions get
-- ghost text drawn by this plugin from the server's completion item (lua/atlas/ghost.lua).
local compat = require("atlas.compat")

local M = {}

M.defaults = {
  cmd = { "atlas-lsp" }, -- how to start the server, e.g. { "/path/to/venv/bin/atlas-lsp" }
  filetypes = { "python", "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust", "java", "c", "cpp" },
  root_markers = { ".git", "pyproject.toml", "setup.py", "setup.cfg", "package.json", "go.mod", "Cargo.toml" },
  settings = {}, -- the server's settings tree: { model = {...}, completion = {...}, context = {...}, solve = {...} }
  ghost_text = true, -- draw ghost text on Neovim < 0.12 (0.12 uses its native inline completion)
  accept_key = "<Tab>", -- insert mode: accept the ghost text (falls through to the key when none is shown)
  dismiss_key = "<C-]>", -- insert mode: hide the ghost text
  debounce_ms = 120, -- wait this long after the last keystroke before asking for ghost text
  notify_errors = true, -- vim.notify when the model fails to load or the endpoint goes down
}

M.options = vim.deepcopy(M.defaults)
M.state = { state = "stopped", message = "atlas-lsp is not running" } -- the last atlas/status
M.progress_log = {} -- { {token=, kind=, message=} } of atlas's work-done progress, newest last
M.last_job = nil -- the id of the last solve started from this editor
local last_error_message = nil

local function echo(message, highlight)
  vim.api.nvim_echo({ { "atlas: " .. message, highlight or "None" } }, false, {})
end

local function find_root(path)
  local dir = vim.fn.fnamemodify(path, ":p:h")
  while dir and dir ~= "" do
    for _, marker in ipairs(M.options.root_markers) do
      if vim.loop.fs_stat(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      break
    end
    dir = parent
  end
  return vim.fn.fnamemodify(path, ":p:h")
end

-- handlers -------------------------------------------------------------------------------------------------

local function on_status(_, result)
  if type(result) ~= "table" then
    return
  end
  M.state = result
  if result.state == "error" and M.options.notify_errors and result.message ~= last_error_message then
    last_error_message = result.message
    vim.schedule(function()
      vim.notify("atlas: " .. tostring(result.message), vim.log.levels.WARN)
    end)
  elseif result.state == "ready" then
    last_error_message = nil
  end
  vim.schedule(function()
    vim.api.nvim_exec_autocmds("User", { pattern = "AtlasStatus", modeline = false })
  end)
end

local function on_progress(err, result, ctx, config)
  local token = result and tostring(result.token) or ""
  if token:sub(1, 6) == "atlas-" and type(result.value) == "table" then
    local value = result.value
    local message = value.message or value.title or ""
    table.insert(M.progress_log, { token = token, kind = value.kind, message = message })
    if #M.progress_log > 200 then
      table.remove(M.progress_log, 1)
    end
    if value.kind == "begin" then
      echo((value.title or "working") .. (value.message and (": " .. value.message) or ""))
    elseif message ~= "" then
      echo(message .. (value.kind == "end" and " (done)" or ""))
    end
  end
  local default = vim.lsp.handlers["$/progress"]
  if default then
    return default(err, result, ctx, config)
  end
end

-- starting the server ----------------------------------------------------------------------------------------

local function client_config(root)
  return {
    name = "atlas",
    cmd = M.options.cmd,
    root_dir = root,
    init_options = M.options.settings,
    settings = { atlas = M.options.settings }, -- answers workspace/configuration for the section "atlas"
    handlers = { ["atlas/status"] = on_status, ["$/progress"] = on_progress },
    on_attach = function(client, bufnr)
      M.state = M.state.state == "stopped" and { state = "loading", message = "starting" } or M.state
      if compat.has_inline_completion then
        pcall(vim.lsp.inline_completion.enable, true, { bufnr = bufnr })
        local key = M.options.accept_key -- as in Neovim 0.12's documentation: accept, else the key itself
        vim.keymap.set("i", key, function()
          if not vim.lsp.inline_completion.get() then
            return key
          end
        end, { buffer = bufnr, expr = true, replace_keycodes = true, desc = "atlas: accept the inline completion" })
      elseif M.options.ghost_text then
        require("atlas.ghost").attach(bufnr, M.options)
      end
    end,
  }
end

local clients_by_root = {} -- Neovim 0.7: one client per root, attached by hand

local function start_for_buffer(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" or vim.bo[bufnr].buftype ~= "" then
    return
  end
  local root = find_root(name)
  if vim.lsp.start then -- 0.8-0.10: reuses the client of the same name and root
    vim.lsp.start(client_config(root), { bufnr = bufnr })
    return
  end
  local id = clients_by_root[root]
  if not id or not vim.lsp.get_client_by_id(id) then
    id = vim.lsp.start_client(client_config(root))
    clients_by_root[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
end

local function register()
  if compat.has_011 then
    local config = client_config(nil)
    config.root_dir = nil
    config.filetypes = M.options.filetypes
    config.root_markers = M.options.root_markers
    vim.lsp.config("atlas", config)
    vim.lsp.enable("atlas")
    return
  end
  local group = vim.api.nvim_create_augroup("atlas_lsp_start", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.options.filetypes,
    callback = function(event)
      start_for_buffer(event.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do -- buffers opened before setup()
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(M.options.filetypes, vim.bo[bufnr].filetype) then
      start_for_buffer(bufnr)
    end
  end
end

-- commands ---------------------------------------------------------------------------------------------------

local function need_client(bufnr)
  local client = compat.client(bufnr)
  if not client then
    echo("the server is not attached to this buffer (is the filetype one of atlas's?)", "WarningMsg")
  end
  return client
end

--- Ask the server to solve the function under the cursor: it answers at once with a job id and works in the
--- background (progress is echoed); the edit arrives through workspace/applyEdit with the evidence.
function M.solve(callback)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = need_client(bufnr)
  if not client then
    return
  end
  local params = compat.code_action_params(client, bufnr)
  compat.request(client, "textDocument/codeAction", params, function(err, actions)
    if err then
      echo("code actions failed: " .. tostring(err.message or err), "ErrorMsg")
      return
    end
    local command
    for _, action in ipairs(actions or {}) do
      local candidate = type(action.command) == "table" and action.command or action
      if candidate.command == "atlas.solveFunction" then
        command = candidate
        break
      end
    end
    if not command then
      echo("no function under the cursor to solve (solving works on functions in saved files whose tests run with pytest, jest, vitest, mocha, jasmine, ava, tap, uvu, bun test, deno test, node --test, cargo test or go test)", "WarningMsg")
      return
    end
    local execute = { command = command.command, arguments = command.arguments }
    compat.request(client, "workspace/executeCommand", execute, function(run_err, result)
      if run_err or type(result) ~= "table" or result.status ~= "started" then
        local why = run_err and (run_err.message or vim.inspect(run_err)) or vim.inspect(result)
        echo("the solve did not start: " .. why, "ErrorMsg")
        return
      end
      M.last_job = result.job
      echo("solving " .. tostring(command.arguments[1].name) .. " (job " .. result.job .. "; :AtlasSolveCancel stops it)")
      if callback then
        callback(result.job)
      end
    end, bufnr)
  end, bufnr)
end

--- Cancel the last solve started from this editor (or every running solve).
function M.cancel_solve()
  local client = need_client(vim.api.nvim_get_current_buf())
  if not client then
    return
  end
  local arguments = M.last_job and { { job = M.last_job } } or {}
  compat.request(client, "workspace/executeCommand", { command = "atlas.cancelSolve", arguments = arguments }, function(
    _,
    result
  )
    local cancelled = result and result.cancelled or {}
    echo(#cancelled > 0 and ("cancelled " .. table.concat(cancelled, ", ")) or "no solve is running")
  end)
end

--- The server's status report (model, device, counters), printed.
function M.show_status()
  local client = compat.client(vim.api.nvim_get_current_buf())
  if not client then
    echo(M.state.state .. ": " .. tostring(M.state.message))
    return
  end
  compat.request(client, "workspace/executeCommand", { command = "atlas.status" }, function(err, report)
    if err or type(report) ~= "table" then
      echo("status failed: " .. tostring(err and err.message), "ErrorMsg")
      return
    end
    local counts = report.completions or {}
    local lines = {
      string.format("atlas: %s — %s", tostring(report.state), tostring(report.message)),
      string.format(
        "  model %s on %s (backend %s, context %s, FIM %s)",
        tostring(report.model),
        tostring(report.device),
        tostring(report.backend),
        tostring(report.contextSize),
        tostring(report.fim)
      ),
      string.format(
        "  completions: %s shown, %s accepted, %s cancelled, %s from cache (%s computed ahead while the one before was shown)",
        tostring(counts.shown),
        tostring(counts.accepted),
        tostring(counts.cancelled),
        tostring(counts.cacheHits),
        tostring(counts.speculationHits)
      ),
    }
    vim.api.nvim_echo({ { table.concat(lines, "\n") } }, true, {})
  end)
end

--- A short text for the statusline: "atlas: ready", "atlas: loading", "atlas: error".
function M.statusline()
  return "atlas: " .. tostring(M.state.state)
end

function M.setup(options)
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), options or {})
  vim.api.nvim_create_user_command("AtlasSolve", function()
    M.solve()
  end, { desc = "atlas: solve the function under the cursor (verified with its tests)" })
  vim.api.nvim_create_user_command("AtlasSolveCancel", function()
    M.cancel_solve()
  end, { desc = "atlas: cancel the running solve" })
  vim.api.nvim_create_user_command("AtlasStatus", function()
    M.show_status()
  end, { desc = "atlas: model status and completion counters" })
  vim.api.nvim_create_user_command("AtlasSuggest", function()
    require("atlas.ghost").request(vim.api.nvim_get_current_buf())
  end, { desc = "atlas: ask for ghost text at the cursor now" })
  vim.api.nvim_create_user_command("AtlasAccept", function()
    require("atlas.ghost").accept()
  end, { desc = "atlas: accept the ghost text" })
  register()
end

return M
