#!/usr/bin/env python3
"""An independent PyTorch port of Hugging Face transformers' forward pass for phi3, llama and qwen2 (eager attention,
float32), written from modeling_phi3.py / modeling_llama.py / modeling_qwen2.py and modeling_rope_utils.py, to check
svgap's loader and forward against. Needs only torch (no transformers, no safetensors package).

Usage: hf_reference.py CHECKPOINT_DIR TOKENS_JSON OUT.bin [PEFT_ADAPTER_DIR]
  TOKENS_JSON: [[id, ...], ...] (one row per sequence, equal lengths); OUT.bin: float32 logits [batch, time, vocab].
  PEFT_ADAPTER_DIR: a LoRA adapter in PEFT's format, merged into the weights first (W + scale * B @ A).
       hf_reference.py --rotary CONFIG_JSON POSITIONS_JSON OUT.bin
  POSITIONS_JSON: [[position, ...]] (one row); OUT.bin: float32 cos then sin, [time, rot_dim / 2] each.
"""
import json
import math
import os
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I32": torch.int32}


def read_safetensors(path):
    """Every tensor of one file as float32, parsed from the format's spec: u64 header length, JSON, raw data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = bytearray(data[begin:end])
        t = torch.frombuffer(raw, dtype=DTYPES[entry["dtype"]]) if raw else torch.empty(0, dtype=DTYPES[entry["dtype"]])
        out[name] = t.reshape(entry["shape"]).to(torch.float32)
    return out


def read_weights(d):
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        weights = {}
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            weights.update(read_safetensors(os.path.join(d, shard)))
        return weights
    return read_safetensors(os.path.join(d, "model.safetensors"))


# ---- rotary embeddings (modeling_rope_utils.py) ----

def rope_dim(cfg):
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    return int(head_dim * cfg.get("partial_rotary_factor", 1.0))


def default_inv_freq(cfg):
    dim = rope_dim(cfg)
    return 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)), 1.0


def longrope_inv_freq(cfg, seq_len):
    rs = cfg["rope_scaling"]
    dim = rope_dim(cfg)
    original = rs.get("original_max_position_embeddings") or cfg.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
    factor = rs.get("factor") or cfg["max_position_embeddings"] / original
    attention_factor = rs.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
    ext = torch.tensor(rs["long_factor"] if seq_len and seq_len > original else rs["short_factor"], dtype=torch.float32)
    shape = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
    return 1.0 / (ext * cfg.get("rope_theta", 10000.0) ** shape), attention_factor


def llama3_inv_freq(cfg):
    inv_freq, attention_factor = default_inv_freq(cfg)
    rs = cfg["rope_scaling"]
    factor, low, high, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / low, old / high
    wavelen = 2 * math.pi / inv_freq
    inv_llama = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_llama / factor + smooth * inv_llama
    medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, inv_llama), attention_factor


def rotary(cfg, position_ids):
    """cos, sin [batch, time, rot_dim]; longrope switches to long factors when max position + 1 > original max."""
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "longrope":
        seq_len = int(position_ids.max()) + 1
        original = rs.get("original_max_position_embeddings") or cfg.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
        inv_freq, scale = longrope_inv_freq(cfg, original + 1 if seq_len > original else None)
    elif kind == "llama3":
        inv_freq, scale = llama3_inv_freq(cfg)
    else:
        inv_freq, scale = default_inv_freq(cfg)
    freqs = (inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1) @ position_ids[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos() * scale, emb.sin() * scale


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x, cos, sin):
    """x [batch, heads, time, head_dim]; only the first rot_dim dims rotate (phi3 partial_rotary_factor)."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    rot = cos.shape[-1]
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    return torch.cat(((x_rot * cos) + (rotate_half(x_rot) * sin), x_pass), dim=-1)


# ---- the decoder ----

def rms_norm(x, weight, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def linear(w, name, x):
    y = x @ w[name + ".weight"].T
    return y + w[name + ".bias"] if name + ".bias" in w else y


def layer_window(cfg, i):
    kind = cfg["model_type"]
    if kind == "phi3":
        return cfg.get("sliding_window")
    if kind == "qwen2" and cfg.get("use_sliding_window") and cfg.get("sliding_window") is not None:
        types = cfg.get("layer_types")
        sliding = types[i] == "sliding_attention" if types else i >= cfg.get("max_window_layers", 28)
        return cfg["sliding_window"] if sliding else None
    return None


def mask_for(t, window):
    q = torch.arange(t)[:, None]
    k = torch.arange(t)[None, :]
    allowed = k <= q
    if window is not None:
        allowed = allowed & (k > q - window)
    return torch.where(allowed, 0.0, torch.finfo(torch.float32).min)[None, None]


def attention(cfg, w, p, x, cos, sin, mask):
    b, t, _ = x.shape
    heads, kv_heads = cfg["num_attention_heads"], cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // heads
    if p + ".qkv_proj.weight" in w:  # phi3: fused q|k|v rows
        qkv = linear(w, p + ".qkv_proj", x)
        q, k, v = qkv[..., : heads * hd], qkv[..., heads * hd : (heads + kv_heads) * hd], qkv[..., (heads + kv_heads) * hd :]
    else:
        q, k, v = linear(w, p + ".q_proj", x), linear(w, p + ".k_proj", x), linear(w, p + ".v_proj", x)
    q = apply_rotary(q.view(b, t, -1, hd).transpose(1, 2), cos, sin)
    k = apply_rotary(k.view(b, t, -1, hd).transpose(1, 2), cos, sin)
    v = v.view(b, t, -1, hd).transpose(1, 2)
    group = heads // kv_heads
    k = k[:, :, None].expand(b, kv_heads, group, t, hd).reshape(b, heads, t, hd)  # repeat_kv
    v = v[:, :, None].expand(b, kv_heads, group, t, hd).reshape(b, heads, t, hd)
    scores = torch.matmul(q, k.transpose(2, 3)) * hd**-0.5 + mask
    out = torch.matmul(torch.softmax(scores, dim=-1, dtype=torch.float32), v)
    return linear(w, p + ".o_proj", out.transpose(1, 2).reshape(b, t, -1))


def mlp(w, p, x):
    if p + ".gate_up_proj.weight" in w:  # phi3: fused gate|up rows
        gate, up = linear(w, p + ".gate_up_proj", x).chunk(2, dim=-1)
    else:
        gate, up = linear(w, p + ".gate_proj", x), linear(w, p + ".up_proj", x)
    return linear(w, p + ".down_proj", up * torch.nn.functional.silu(gate))


def forward(cfg, w, tokens):
    eps = cfg.get("rms_norm_eps", 1e-5 if cfg["model_type"] == "phi3" else 1e-6)
    b, t = tokens.shape
    position_ids = torch.arange(t)[None].expand(b, t)
    cos, sin = rotary(cfg, position_ids)
    h = w["model.embed_tokens.weight"][tokens]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        h = h + attention(cfg, w, p + ".self_attn", rms_norm(h, w[p + ".input_layernorm.weight"], eps), cos, sin, mask_for(t, layer_window(cfg, i)))
        h = h + mlp(w, p + ".mlp", rms_norm(h, w[p + ".post_attention_layernorm.weight"], eps))
    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return h @ head.T


def merge_peft_adapter(w, adapter_dir):
    """W + scale * B @ A for every PEFT LoRA module (scale = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora),
    read the way PEFT names them: base_model.model.<module>.lora_A.weight [r, in], .lora_B.weight [out, r]."""
    cfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    assert cfg["peft_type"] == "LORA", cfg["peft_type"]
    r, alpha = cfg["r"], cfg["lora_alpha"]
    scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
    tensors = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    prefix = "base_model.model."
    for key, a in tensors.items():
        if not key.endswith(".lora_A.weight"):
            continue
        module = key[len(prefix):-len(".lora_A.weight")]
        b = tensors[prefix + module + ".lora_B.weight"]
        w[module + ".weight"] = w[module + ".weight"] + scale * (b @ a)
    return w


def main():
    if sys.argv[1] == "--rotary":
        cfg = json.load(open(sys.argv[2]))
        cos, sin = rotary(cfg, torch.tensor(json.load(open(sys.argv[3])), dtype=torch.int64))
        half = cos.shape[-1] // 2
        torch.cat((cos[0, :, :half], sin[0, :, :half])).contiguous().numpy().astype("float32").tofile(sys.argv[4])
        return
    ckpt, tokens_path, out_path = sys.argv[1:4]
    adapter = sys.argv[4] if len(sys.argv) > 4 else None
    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    if cfg["model_type"] not in ("phi3", "llama", "qwen2"):
        sys.exit(f"unsupported model_type {cfg['model_type']}")
    tokens = torch.tensor(json.load(open(tokens_path)), dtype=torch.int64)
    with torch.no_grad():
        w = read_weights(ckpt)
        logits = forward(cfg, merge_peft_adapter(w, adapter) if adapter else w, tokens)
    logits.contiguous().numpy().astype("float32").tofile(out_path)


if __name__ == "__main__":
    main()
