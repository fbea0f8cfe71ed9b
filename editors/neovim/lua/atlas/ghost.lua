-- Ghost text for Neovim < 0.12 (which has no native inline completion): the server's completion item is drawn
-- after the cursor as virtual text (first line) and virtual lines (the rest); the accept key inserts it.
local compat = require("atlas.compat")

local M = {}
local namespace = vim.api.nvim_create_namespace("atlas_ghost")
local current = nil -- { bufnr, row, col, tick, text, item, client }
local latest_request = 0
local timer = nil
local options = { debounce_ms = 120, accept_key = "<Tab>", dismiss_key = "<C-]>" }

--- The ghost text on screen, or nil: { bufnr, row (0-based), col (byte), text, item }.
function M.current()
  return current
end

function M.clear()
  if current and vim.api.nvim_buf_is_valid(current.bufnr) then
    vim.api.nvim_buf_clear_namespace(current.bufnr, namespace, 0, -1)
  end
  current = nil
end

local function show(state)
  M.clear()
  local lines = vim.split(state.text, "\n", { plain = true })
  local line = vim.api.nvim_buf_get_lines(state.bufnr, state.row, state.row + 1, false)[1] or ""
  local mark = { virt_text = { { lines[1], "Comment" } }, hl_mode = "combine" }
  if compat.has_010 then
    mark.virt_text_pos = "inline"
  elseif state.col >= #line then
    mark.virt_text_pos = "overlay" -- at the end of the line: nothing to cover
  else
    mark.virt_text_pos = "eol"
  end
  if #lines > 1 then
    mark.virt_lines = {}
    for index = 2, #lines do
      table.insert(mark.virt_lines, { { lines[index], "Comment" } })
    end
  end
  vim.api.nvim_buf_set_extmark(state.bufnr, namespace, state.row, state.col, mark)
  current = state
end

local function cursor_of(bufnr)
  local win = vim.fn.bufwinid(bufnr)
  if win == -1 then
    win = 0
  end
  local position = vim.api.nvim_win_get_cursor(win)
  return position[1] - 1, position[2]
end

--- Ask the server for a suggestion at the cursor and draw it. `on_done(state_or_nil)` is called either way.
function M.request(bufnr, on_done)
  local client = compat.client(bufnr)
  local function done(state)
    if on_done then
      on_done(state)
    end
  end
  if not client then
    return done(nil)
  end
  latest_request = latest_request + 1
  local sequence = latest_request
  local row, col = cursor_of(bufnr)
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local params = compat.position_params(client)
  params.textDocument = { uri = vim.uri_from_bufnr(bufnr) }
  params.context = { triggerKind = 1 }
  compat.request(client, "textDocument/completion", params, function(err, result)
    if err or sequence ~= latest_request or not vim.api.nvim_buf_is_valid(bufnr) then
      return done(nil)
    end
    if vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return done(nil) -- typed on meanwhile: a newer request is coming
    end
    local items = result and (result.items or result) or {}
    local item = items[1]
    if not item or not item.textEdit then
      return done(nil)
    end
    local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
    local start = item.textEdit.range and item.textEdit.range.start or item.textEdit.insert.start
    local start_col = compat.byte_column(line, start.character, client.offset_encoding)
    local typed = line:sub(start_col + 1, col)
    local new_text = item.textEdit.newText
    if new_text:sub(1, #typed) ~= typed or #new_text <= #typed then
      return done(nil)
    end
    show({ bufnr = bufnr, row = row, col = col, tick = tick, text = new_text:sub(#typed + 1), item = item, client = client })
    done(current)
  end, bufnr)
end

--- Tell the server where the cursor rests (a code-action request; its answer is not used): with the server's
--- `completion.warmUp`, the prompt there is evaluated ahead, and the first suggestion in insert mode comes sooner.
function M.rest(bufnr)
  local client = compat.client(bufnr)
  if not client then
    return
  end
  compat.request(client, "textDocument/codeAction", compat.code_action_params(client, bufnr), function() end, bufnr)
end

--- Insert the ghost text at the cursor; false when there is none (or the buffer moved on).
function M.accept()
  local state = current
  if not state or not vim.api.nvim_buf_is_valid(state.bufnr) then
    return false
  end
  local row, col = cursor_of(state.bufnr)
  if row ~= state.row or col ~= state.col or vim.api.nvim_buf_get_changedtick(state.bufnr) ~= state.tick then
    M.clear()
    return false
  end
  M.clear()
  local lines = vim.split(state.text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(state.bufnr, row, col, row, col, lines)
  local end_row = row + #lines - 1
  local end_col = #lines == 1 and col + #lines[1] or #lines[#lines]
  local win = vim.fn.bufwinid(state.bufnr)
  vim.api.nvim_win_set_cursor(win ~= -1 and win or 0, { end_row + 1, end_col })
  local command = state.item.command
  if command then -- tell the server it was accepted (counted locally, never sent anywhere)
    compat.request(state.client, "workspace/executeCommand", { command = command.command, arguments = command.arguments }, function() end)
  end
  return true
end

local function schedule_request(bufnr)
  if timer then
    timer:stop()
  else
    timer = vim.loop.new_timer()
  end
  timer:start(options.debounce_ms, 0, vim.schedule_wrap(function()
    if vim.api.nvim_get_current_buf() == bufnr and vim.fn.mode():sub(1, 1) == "i" then
      M.request(bufnr)
    end
  end))
end

--- Draw ghost text in `bufnr` while typing in insert mode, with the accept and dismiss keys.
function M.attach(bufnr, opts)
  options = vim.tbl_extend("force", options, opts or {})
  if vim.b[bufnr].atlas_ghost then
    return
  end
  vim.b[bufnr].atlas_ghost = true
  local group = vim.api.nvim_create_augroup("atlas_ghost_" .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ "TextChangedI", "TextChangedP", "InsertEnter" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.clear()
      schedule_request(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd("CursorMovedI", {
    group = group,
    buffer = bufnr,
    callback = function()
      if current then
        local row, col = cursor_of(bufnr)
        if row ~= current.row or col ~= current.col then
          M.clear()
        end
      end
    end,
  })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, { group = group, buffer = bufnr, callback = M.clear })
  vim.api.nvim_create_autocmd("CursorHold", { -- normal mode, 'updatetime' after the cursor stopped
    group = group,
    buffer = bufnr,
    callback = function()
      M.rest(bufnr)
    end,
  })
  local accept_key = options.accept_key
  vim.keymap.set("i", accept_key, function()
    if not M.accept() then
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(accept_key, true, false, true), "n", false)
    end
  end, { buffer = bufnr, desc = "atlas: accept the ghost text" })
  vim.keymap.set("i", options.dismiss_key, M.clear, { buffer = bufnr, desc = "atlas: hide the ghost text" })
end

return M
