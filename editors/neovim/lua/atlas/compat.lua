-- Version shims: the plugin runs on Neovim 0.7 to 0.12, whose LSP client API changed shape on the way.
local M = {}

M.has_011 = vim.fn.has("nvim-0.11") == 1
M.has_010 = vim.fn.has("nvim-0.10") == 1
M.has_inline_completion = vim.lsp.inline_completion ~= nil -- Neovim 0.12

--- The running atlas client attached to `bufnr` (or any atlas client), or nil.
function M.client(bufnr)
  local clients
  if vim.lsp.get_clients then
    clients = vim.lsp.get_clients({ name = "atlas", bufnr = bufnr })
    if #clients == 0 and bufnr then
      clients = vim.lsp.get_clients({ name = "atlas" })
    end
  else
    clients = {}
    for _, client in pairs(vim.lsp.get_active_clients()) do
      if client.name == "atlas" and (not bufnr or vim.lsp.buf_is_attached(bufnr, client.id)) then
        table.insert(clients, client)
      end
    end
    if #clients == 0 and bufnr then
      return M.client(nil)
    end
  end
  return clients[1]
end

--- client.request on every version (0.11 made it a method: `client:request`).
function M.request(client, method, params, handler, bufnr)
  if M.has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- Position params for the cursor of the current window in the client's encoding.
function M.position_params(client)
  return vim.lsp.util.make_position_params(0, client.offset_encoding or "utf-16")
end

--- Code-action params for the cursor of the current window in `bufnr` (an empty range there).
function M.code_action_params(client, bufnr)
  local position = M.position_params(client).position
  return {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = { start = position, ["end"] = position },
    context = { diagnostics = {} },
  }
end

--- The byte column of `character` (in the client's position encoding) on `line`.
function M.byte_column(line, character, encoding)
  encoding = encoding or "utf-16"
  if M.has_011 then
    return vim.str_byteindex(line, encoding, character, false)
  end
  if encoding == "utf-8" then
    return math.min(character, #line)
  end
  local ok, column = pcall(vim.str_byteindex, line, character, encoding == "utf-16")
  return ok and column or #line
end

return M
