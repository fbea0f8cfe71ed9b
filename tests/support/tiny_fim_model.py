"""Build a tiny random-weight llama GGUF whose vocabulary declares FIM tokens (it generates nonsense, but it
proves that the real loader finds the FIM tokens and that prompts are assembled in the right order)."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

FIM_TOKENS = {
    "prefix": "<|fim_prefix|>",
    "suffix": "<|fim_suffix|>",
    "middle": "<|fim_middle|>",
    "pad": "<|fim_pad|>",
    "repo_name": "<|repo_name|>",
    "file_sep": "<|file_sep|>",
}
SPECIAL = ["<unk>", "<s>", "</s>", *FIM_TOKENS.values()]


def build(path: Path, embedding: int = 32, layers: int = 1, context: int = 512) -> Path:
    writer = gguf.GGUFWriter(str(path), "llama")
    tokens = [token.encode() for token in SPECIAL] + [f"<0x{byte:02X}>".encode() for byte in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    types += [gguf.TokenType.CONTROL] * len(FIM_TOKENS) + [gguf.TokenType.BYTE] * 256
    vocab = len(tokens)
    writer.add_name("tiny-fim-test")
    writer.add_context_length(context)
    writer.add_embedding_length(embedding)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(embedding * 2)
    writer.add_head_count(2)
    writer.add_head_count_kv(2)
    writer.add_rope_dimension_count(embedding // 2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * vocab)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(False)
    ids = {name: SPECIAL.index(text) for name, text in FIM_TOKENS.items()}
    writer.add_uint32("tokenizer.ggml.fim_pre_token_id", ids["prefix"])
    writer.add_uint32("tokenizer.ggml.fim_suf_token_id", ids["suffix"])
    writer.add_uint32("tokenizer.ggml.fim_mid_token_id", ids["middle"])
    writer.add_uint32("tokenizer.ggml.fim_pad_token_id", ids["pad"])
    writer.add_uint32("tokenizer.ggml.fim_rep_token_id", ids["repo_name"])
    writer.add_uint32("tokenizer.ggml.fim_sep_token_id", ids["file_sep"])
    rng = np.random.default_rng(0)

    def tensor(name: str, *shape: int) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    tensor("token_embd.weight", vocab, embedding)
    writer.add_tensor("output_norm.weight", np.ones(embedding, dtype=np.float32))
    tensor("output.weight", vocab, embedding)
    for layer in range(layers):
        prefix = f"blk.{layer}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(embedding, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            tensor(f"{prefix}.{name}.weight", embedding, embedding)
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(embedding, dtype=np.float32))
        tensor(f"{prefix}.ffn_gate.weight", embedding * 2, embedding)
        tensor(f"{prefix}.ffn_up.weight", embedding * 2, embedding)
        tensor(f"{prefix}.ffn_down.weight", embedding, embedding * 2)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
