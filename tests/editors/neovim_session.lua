-- Drives the atlas Neovim plugin in a real headless Neovim against the real server and the bundled model.
-- Environment: ATLAS_PLUGIN (editors/neovim), ATLAS_PYTHON, ATLAS_PROJECT, ATLAS_OUT (JSON written here).
local out = {}
local function finish()
  local file = io.open(os.getenv("ATLAS_OUT"), "w")
  file:write(vim.fn.json_encode(out))
  file:close()
  vim.cmd("qa!")
end

local function run()
  vim.opt.runtimepath:prepend(os.getenv("ATLAS_PLUGIN"))
  vim.cmd("filetype on")
  local project = os.getenv("ATLAS_PROJECT")
  local atlas = require("atlas")
  local ghost = require("atlas.ghost")
  atlas.setup({
    cmd = { os.getenv("ATLAS_PYTHON"), "-m", "atlas_lsp", "--log-file", project .. "/../server.log" },
    settings = {
      completion = { debounceMs = 0, maxTokens = 24, timeLimitMs = 60000, warmUp = "on", speculate = "on" },
      solve = { candidates = 4, repairRounds = 1 },
    },
  })
  out.version = tostring(vim.version().major) .. "." .. tostring(vim.version().minor)

  -- attach and wait for the model
  vim.cmd("edit " .. project .. "/rev.py")
  local bufnr = vim.api.nvim_get_current_buf()
  out.filetype = vim.bo[bufnr].filetype
  out.ready = vim.wait(120000, function()
    return atlas.state.state == "ready" or atlas.state.state == "error"
  end, 50) and atlas.state.state == "ready"
  out.status = atlas.state
  out.statusline = atlas.statusline()

  -- ghost text from the completion item, then accepted
  vim.o.virtualedit = "onemore" -- as in insert mode, the cursor may sit after the last character
  vim.api.nvim_win_set_cursor(0, { 2, 11 }) -- after "    return "
  local shown = nil
  local answered = false
  ghost.request(bufnr, function(state)
    shown = state
    answered = true
  end)
  vim.wait(60000, function()
    return answered
  end, 20)
  out.ghost_text = shown and shown.text or vim.NIL
  out.ghost_marks = #vim.api.nvim_buf_get_extmarks(bufnr, vim.api.nvim_create_namespace("atlas_ghost"), 0, -1, {})
  local function completions(buffer)
    local counts = nil
    local compat = require("atlas.compat")
    compat.request(compat.client(buffer), "workspace/executeCommand", { command = "atlas.status", arguments = {} },
      function(_, result)
        counts = result and result.completions or {}
      end, buffer)
    vim.wait(10000, function()
      return counts ~= nil
    end, 20)
    return counts or {}
  end
  -- while the user reads it, the server computes what follows it (completion.speculate)
  for _ = 1, 200 do -- (not a vim.wait predicate: completions() waits for its answer itself)
    if (completions(bufnr).speculations or 0) > 0 then
      break
    end
    vim.wait(100)
  end
  out.accepted = ghost.accept()
  out.after_accept = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  out.cursor_after_accept = vim.api.nvim_win_get_cursor(0)
  -- the request that typing (TextChangedI) sends after the accepted text is answered from that speculation
  local next_answered = false
  ghost.request(bufnr, function()
    next_answered = true
  end)
  vim.wait(60000, function()
    return next_answered
  end, 20)
  local counts = completions(bufnr)
  out.speculations = counts.speculations
  out.speculation_hits = counts.speculationHits

  -- the <Tab> mapping the plugin sets in insert mode accepts the ghost text (called as the key would call it)
  vim.cmd("edit " .. project .. "/keys.py")
  local keys = vim.api.nvim_get_current_buf()
  vim.wait(10000, function()
    return require("atlas.compat").client(keys) ~= nil
  end, 20)
  vim.api.nvim_win_set_cursor(0, { 2, 11 })
  local typed = nil
  ghost.request(keys, function(state)
    typed = state and state.text or ""
  end)
  vim.wait(60000, function()
    return typed ~= nil
  end, 20)
  local tab = nil
  for _, map in ipairs(vim.api.nvim_buf_get_keymap(keys, "i")) do
    if map.lhs == "<Tab>" then
      tab = map.callback
    end
  end
  out.tab_mapped = tab ~= nil
  if tab then
    tab()
  end
  out.typing_line = vim.api.nvim_buf_get_lines(keys, 1, 2, false)[1]
  out.typing_expected = "    return " .. vim.split(typed or "", "\n", { plain = true })[1]

  vim.cmd("edit " .. project .. "/calc.py")
  local calc = vim.api.nvim_get_current_buf()
  vim.wait(10000, function()
    return require("atlas.compat").client(calc) ~= nil
  end, 20)
  local client = require("atlas.compat").client(calc)
  -- the cursor rests in normal mode (CursorHold): the plugin tells the server, which warms up the prompt there
  local function warm_ups()
    return completions(calc).warmUps or -1
  end
  -- the edits above (the accepted ghost text) start warm-ups of their own 0.3 s later: let them settle first
  local warm_ups_before = warm_ups()
  for _ = 1, 20 do
    vim.wait(1000)
    local now = warm_ups()
    if now == warm_ups_before then
      break
    end
    warm_ups_before = now
  end
  vim.api.nvim_win_set_cursor(0, { 9, 0 }) -- LIMIT = 3: the eight lines above, never evaluated yet
  vim.api.nvim_exec_autocmds("CursorHold", { buffer = calc, modeline = false })
  out.warm_ups = 0
  for _ = 1, 100 do -- (not a vim.wait predicate: warm_ups() waits for its answer itself)
    out.warm_ups = warm_ups() - warm_ups_before
    if out.warm_ups > 0 then
      break
    end
    vim.wait(300)
  end

  -- code actions inside and outside a function
  local function actions_at(row)
    vim.api.nvim_win_set_cursor(0, { row, 0 })
    local position = { line = row - 1, character = 0 }
    local params = {
      textDocument = { uri = vim.uri_from_bufnr(calc) },
      range = { start = position, ["end"] = position },
      context = { diagnostics = {} },
    }
    local got = nil
    require("atlas.compat").request(client, "textDocument/codeAction", params, function(_, result)
      got = result or {}
    end, calc)
    vim.wait(10000, function()
      return got ~= nil
    end, 20)
    return got or {}
  end
  out.actions_inside = #actions_at(6)
  out.actions_outside = #actions_at(9)

  -- solve the stub: progress echoed, the verified edit applied to the buffer
  local before = table.concat(vim.api.nvim_buf_get_lines(calc, 0, -1, false), "\n")
  vim.api.nvim_win_set_cursor(0, { 6, 4 })
  local job = nil
  atlas.solve(function(id)
    job = id
  end)
  out.solved = vim.wait(240000, function()
    for _, entry in ipairs(atlas.progress_log) do
      if entry.kind == "end" and entry.token:find("atlas%-solve%-") then
        return true
      end
    end
    return false
  end, 100)
  vim.wait(5000, function()
    return table.concat(vim.api.nvim_buf_get_lines(calc, 0, -1, false), "\n") ~= before
  end, 50)
  out.job = job or vim.NIL
  out.progress = {}
  for _, entry in ipairs(atlas.progress_log) do
    table.insert(out.progress, entry.message)
  end
  out.after_solve = table.concat(vim.api.nvim_buf_get_lines(calc, 0, -1, false), "\n")
  out.messages = vim.fn.execute("messages")

  -- Java, C and C++ buffers are served too (the plugin's filetypes): the client attaches to each
  local compat = require("atlas.compat")
  out.other_languages = {}
  for _, name in ipairs({ "Calc.java", "geo.c", "geo.cpp" }) do
    vim.cmd("edit " .. project .. "/" .. name)
    local buffer = vim.api.nvim_get_current_buf()
    local attached = vim.wait(10000, function()
      local client = compat.client(buffer)
      return client ~= nil and vim.lsp.buf_is_attached(buffer, client.id)
    end, 50)
    out.other_languages[name] = { filetype = vim.bo[buffer].filetype, attached = attached }
  end
end

local ok, err = pcall(run)
if not ok then
  out.error = tostring(err)
end
finish()
