#!/usr/bin/env python3
"""PyTorch reference for scripts/bench_backend.ts and `npm run bench --compare-torch`: the same Phi-3-style decoder
(src/model/model.ts), the same AdamW step (global-norm clipping, decoupled decay on matrices), the same KV-cache
sampler, teacher-forced scorer, verifier read-out and LoRA fine-tuning, timed the same way (median of runs).

Run with Debian's python3-torch here (/usr/bin/python3; needs an optimised BLAS such as libopenblas0-openmp),
or any PyTorch (e.g. with --device cuda on a GPU machine):
  /usr/bin/python3 scripts/bench_torch.py --preset tiny --threads 2
Prints one table row per preset and, with --json FILE, writes the figures there.
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

PRESETS = {
    # mirrors presetConfig() in src/model/config.ts
    'tiny': dict(hidden=128, layers=2, heads=4, kv_heads=2, intermediate=352, max_pos=256),
    'small': dict(hidden=256, layers=4, heads=8, kv_heads=4, intermediate=704, max_pos=512),
    # mirrors phi4MiniConfig() in src/bench/model.ts: Phi-4-mini's shape (random weights; vocab from --vocab, 200064 for full size)
    'phi4mini-shape': dict(hidden=384, layers=2, heads=6, kv_heads=2, intermediate=1024, max_pos=4096),
    'phi4mini': dict(hidden=3072, layers=32, heads=24, kv_heads=8, intermediate=8192, max_pos=4096),
    'phi4mini-tok': dict(hidden=3072, layers=32, heads=24, kv_heads=8, intermediate=8192, max_pos=4096),  # with --vocab of the tokenizer
}
ROPE_THETA = 10000.0
PARTIAL_ROTARY = 0.75
EPS = 1e-5
INIT_STD = 0.02


class Decoder:
    """Parameters in Hugging Face layout ([out, in]) and a functional forward, as in src/model/model.ts."""

    def __init__(self, preset, vocab, device, seed):
        c = PRESETS[preset]
        self.vocab, self.d, self.layers = vocab, c['hidden'], c['layers']
        self.heads, self.kv_heads, self.inter = c['heads'], c['kv_heads'], c['intermediate']
        self.hd = self.d // self.heads
        self.rot = 2 * math.floor(self.hd * PARTIAL_ROTARY / 2)
        g = torch.Generator(device=device).manual_seed(seed)  # drawn where the weights live (3.8B normals on a GPU: instant)
        residual_std = INIT_STD / math.sqrt(2 * self.layers)

        def normal(shape, std):
            return (torch.randn(shape, generator=g, device=device) * std).requires_grad_()

        def ones(n):
            return torch.ones(n, device=device).requires_grad_()

        qkv_out = (self.heads + 2 * self.kv_heads) * self.hd
        self.p = {'embed': normal((vocab, self.d), INIT_STD), 'norm': ones(self.d)}
        for i in range(self.layers):
            self.p[f'{i}.in_norm'] = ones(self.d)
            self.p[f'{i}.qkv'] = normal((qkv_out, self.d), INIT_STD)
            self.p[f'{i}.o'] = normal((self.d, self.d), residual_std)
            self.p[f'{i}.post_norm'] = ones(self.d)
            self.p[f'{i}.gate_up'] = normal((2 * self.inter, self.d), INIT_STD)
            self.p[f'{i}.down'] = normal((self.d, self.inter), residual_std)
        self.device = device
        self.bf16 = False
        self.lora = None  # {name: (A [rank, in], B [out, rank])} and its scale, once add_lora() ran

    def add_lora(self, rank, alpha, seed):
        """Adapters on qkv, o, gate_up and down (A random, B zero), base frozen: as addLora() in src/model/model.ts."""
        g = torch.Generator().manual_seed(seed)
        self.lora = {}
        for name, w in self.p.items():
            w.requires_grad_(False)
            if name.split('.')[-1] in ('qkv', 'o', 'gate_up', 'down'):
                out_f, in_f = w.shape
                a = (torch.randn((rank, in_f), generator=g) / math.sqrt(in_f)).to(self.device).requires_grad_()
                b = torch.zeros((out_f, rank), device=self.device).requires_grad_()
                self.lora[name] = (a, b)
        self.lora_scale = alpha / rank
        return [t for pair in self.lora.values() for t in pair]

    def linear(self, x, name):
        y = x @ self.p[name].t()
        if self.lora and name in self.lora:
            a, b = self.lora[name]
            y = y + (x @ a.t()) @ b.t() * self.lora_scale
        return y

    def rotary(self, positions):
        half = self.rot // 2
        inv = ROPE_THETA ** (-2 * torch.arange(half, dtype=torch.float64) / self.rot)
        angles = positions.to(torch.float64)[..., None] * inv  # [B, T, half]
        return angles.cos().float()[:, :, None, :].to(self.device), angles.sin().float()[:, :, None, :].to(self.device)

    def apply_rotary(self, x, cos, sin):
        half = self.rot // 2
        x1, x2, rest = x[..., :half], x[..., half:self.rot], x[..., self.rot:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)

    @staticmethod
    def rms_norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w

    def forward(self, tokens, cache=None, positions=None, key_mask=None, last_only=False):
        # --precision bf16: autocast (matmuls in bf16, fp32 accumulation; softmax, norms and the loss in fp32)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits, new_cache = self.forward_fp(tokens, cache, positions, key_mask, last_only)
        return logits.float(), new_cache

    def forward_fp(self, tokens, cache=None, positions=None, key_mask=None, last_only=False):
        b, t = tokens.shape
        past = 0 if cache is None else cache['length']
        if positions is None:
            positions = torch.arange(past, past + t).expand(b, t)
        cos, sin = self.rotary(positions)
        keys_len = past + t
        visible = torch.arange(keys_len)[None, :] <= (past + torch.arange(t))[:, None]  # [T, K]
        visible = visible[None].expand(b, t, keys_len)
        if key_mask is not None:
            visible = visible & key_mask[:, None, :keys_len].bool()
        mask = torch.where(visible, 0.0, -1e9).to(self.device)[:, None, None]  # [B, 1, 1, T, K]
        group = self.heads // self.kv_heads
        h = self.p['embed'][tokens.reshape(-1)]
        new_cache = {'k': [], 'v': [], 'length': keys_len}
        for i in range(self.layers):
            x = self.rms_norm(h, self.p[f'{i}.in_norm'])
            qkv = self.linear(x, f'{i}.qkv')
            q, k, v = qkv.split([self.heads * self.hd, self.kv_heads * self.hd, self.kv_heads * self.hd], 1)
            q = self.apply_rotary(q.reshape(b, t, self.heads, self.hd), cos, sin)
            k = self.apply_rotary(k.reshape(b, t, self.kv_heads, self.hd), cos, sin).transpose(1, 2)
            v = v.reshape(b, t, self.kv_heads, self.hd).transpose(1, 2)
            if cache is not None and past > 0:
                k = torch.cat([cache['k'][i], k], 2)
                v = torch.cat([cache['v'][i], v], 2)
            new_cache['k'].append(k)
            new_cache['v'].append(v)
            qg = q.reshape(b, t, self.kv_heads, group, self.hd).permute(0, 2, 3, 1, 4).reshape(b, self.kv_heads, group * t, self.hd)
            scores = (qg @ k.transpose(-1, -2) / math.sqrt(self.hd)).reshape(b, self.kv_heads, group, t, keys_len) + mask
            w = scores.softmax(-1).reshape(b, self.kv_heads, group * t, keys_len)
            ctx = (w @ v).reshape(b, self.kv_heads, group, t, self.hd).permute(0, 3, 1, 2, 4).reshape(b * t, self.d)
            h = h + self.linear(ctx, f'{i}.o')
            gate, up = self.linear(self.rms_norm(h, self.p[f'{i}.post_norm']), f'{i}.gate_up').chunk(2, 1)
            h = h + self.linear(F.silu(gate) * up, f'{i}.down')
        final = self.rms_norm(h, self.p['norm']).reshape(b, t, self.d)
        if last_only:
            final = final[:, -1:]
        logits = final.reshape(-1, self.d) @ self.p['embed'].t()
        return logits.reshape(b, -1, self.vocab), new_cache


def make_optimizer(params, lr):
    matrices = [p for p in params if p.dim() >= 2]
    gains = [p for p in params if p.dim() < 2]
    return torch.optim.AdamW([{'params': matrices, 'weight_decay': 0.01}, {'params': gains, 'weight_decay': 0.0}],
                             lr=lr, betas=(0.9, 0.95), eps=1e-8)


def train_step(model, opt, inputs, targets, weights):
    logits, _ = model.forward(inputs)
    logp = logits.reshape(-1, model.vocab).log_softmax(-1)
    target_logp = logp.gather(1, targets.reshape(-1, 1)).squeeze(1)
    w = weights.reshape(-1)
    loss = -(target_logp * w).sum() / w.sum().clamp_min(1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for group in opt.param_groups for p in group['params']], 1.0)
    opt.step()
    return loss.item()


@torch.no_grad()
def score(model, prompts, responses):
    """Teacher-forced NLL, entropy and self-certainty of responses (the paper's U), as score() in src/model/sample.ts."""
    seq = torch.cat([prompts, responses], 1).to(model.device)
    logits, _ = model.forward(seq[:, :-1])
    logp = logits.log_softmax(-1)
    target = logp.gather(2, seq[:, 1:, None]).squeeze(2)
    w = torch.zeros_like(target)
    w[:, prompts.shape[1] - 1:] = 1
    entropy = -(logp.exp() * logp).sum(2)
    certainty = -logp.mean(2) - math.log(model.vocab)
    return [(-(target * w).sum(1)).cpu(), (entropy * w).sum(1).cpu(), (certainty * w).sum(1).cpu()]


@torch.no_grad()
def verify(model, prompts):
    """Log-probs of the token after each prompt (the verifier's read-out), as nextTokenLogProbs()."""
    logits, _ = model.forward(prompts.to(model.device), last_only=True)
    return logits[:, -1].log_softmax(-1).cpu()


@torch.no_grad()
def sample(model, prompts, new_tokens, top_p, gen):
    """Left-padded batched sampling with a KV cache: temperature 1, nucleus top-p, as src/model/sample.ts."""
    b, plen = prompts.shape
    cache = None
    inp = prompts
    positions = torch.arange(plen).expand(b, plen)
    key_mask = torch.ones(b, plen + new_tokens)
    out = []
    for _ in range(new_tokens):
        logits, cache = model.forward(inp.to(model.device), cache, positions, key_mask, last_only=True)
        logp = logits[:, -1].float().log_softmax(-1).cpu()
        if top_p >= 1:  # no truncation: draw from the full distribution without sorting
            tok = torch.multinomial(logp.exp(), 1, generator=gen)
        else:
            probs, ids = logp.exp().sort(-1, descending=True)
            keep = probs.cumsum(-1) - probs < top_p
            probs = torch.where(keep, probs, torch.zeros_like(probs))
            tok = ids.gather(1, torch.multinomial(probs, 1, generator=gen))
        out.append(tok)
        inp = tok
        positions = positions[:, -1:] + 1
    return torch.cat(out, 1)


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def median_seconds(fn, runs, device):
    times = []
    for _ in range(runs):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(args, preset):
    device = torch.device(args.device)
    model = Decoder(preset, args.vocab, device, seed=1)
    model.bf16 = args.precision == 'bf16'
    opt = make_optimizer(list(model.p.values()), args.lr)
    g = torch.Generator().manual_seed(3)
    inputs = torch.randint(0, args.vocab, (args.batch, args.seq), generator=g).to(device)
    targets = torch.randint(0, args.vocab, (args.batch, args.seq), generator=g).to(device)
    weights = torch.ones(args.batch, args.seq, device=device)
    for _ in range(args.warmup):
        train_step(model, opt, inputs, targets, weights)
    # median step time, as bench_backend.ts: robust to a step slowed by other processes (train_step syncs via .item())
    times = []
    cpu0 = time.process_time()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        train_step(model, opt, inputs, targets, weights)
        times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    cpu_ms = (time.process_time() - cpu0) / args.steps * 1e3  # all threads of the process, as bench_backend.ts

    prompts = torch.randint(1, args.vocab, (args.sample_batch, args.prompt), generator=g)
    responses = torch.randint(1, args.vocab, (args.sample_batch, args.new_tokens), generator=g)
    verify_length = args.verify_length or args.prompt + args.new_tokens
    verify_prompts = torch.randint(1, args.vocab, (args.sample_batch, verify_length), generator=g)
    sample(model, prompts, 2, args.top_p, g)  # warm-up
    sample_s = median_seconds(lambda: sample(model, prompts, args.new_tokens, args.top_p, g), args.sample_runs, device)
    score(model, prompts, responses)
    score_s = median_seconds(lambda: score(model, prompts, responses), args.sample_runs, device)
    verify(model, verify_prompts)
    verify_s = median_seconds(lambda: verify(model, verify_prompts), args.sample_runs, device)

    # LoRA fine-tuning of the adapters only (what `npm run train` does by default)
    lora_opt = make_optimizer(model.add_lora(args.lora_rank, args.lora_alpha, seed=2), args.lr)
    for _ in range(max(1, args.warmup // 2)):
        train_step(model, lora_opt, inputs, targets, weights)
    lora_s = median_seconds(lambda: train_step(model, lora_opt, inputs, targets, weights), args.steps, device)
    return {
        'backend': f'pytorch-{device.type}', 'preset': preset, 'device': device.type, 'precision': args.precision, 'threads': torch.get_num_threads(), 'torch': torch.__version__,
        'train_ms_per_step': step_s * 1e3, 'train_cpu_ms_per_step': cpu_ms, 'train_tokens_per_s': args.batch * args.seq / step_s,
        'train_lora_tokens_per_s': args.batch * args.seq / lora_s,
        'sample_tokens_per_s': args.sample_batch * args.new_tokens / sample_s,
        'score_tokens_per_s': args.sample_batch * (args.prompt + args.new_tokens) / score_s,
        'verify_tokens_per_s': args.sample_batch * verify_length / verify_s,
        'batch': args.batch, 'seq': args.seq, 'vocab': args.vocab, 'top_p': args.top_p, 'lora_rank': args.lora_rank,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--preset', default='tiny', help='tiny, small, or a comma list')
    ap.add_argument('--vocab', type=int, default=512)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--seq', type=int, default=64)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--sample-batch', type=int, default=8)
    ap.add_argument('--prompt', type=int, default=16)
    ap.add_argument('--new-tokens', type=int, default=32)
    ap.add_argument('--sample-runs', type=int, default=3, help='timed runs of sampling, scoring and verifying (median)')
    ap.add_argument('--top-p', type=float, default=0.9, help='nucleus mass of the sampler (1: no truncation)')
    ap.add_argument('--verify-length', type=int, default=0, help='verifier prompt length (default: prompt + new tokens)')
    ap.add_argument('--lora-rank', type=int, default=8)
    ap.add_argument('--lora-alpha', type=float, default=16)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--threads', type=int, default=int(os.environ.get('OMP_NUM_THREADS', '0') or 0),
                    help='intra-op threads (default OMP_NUM_THREADS, else torch default)')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--precision', default=None, choices=['fp32', 'tf32', 'bf16'],
                    help='matmul precision (default: tf32 on cuda, fp32 on cpu; tf32 is fp32 on cpu; bf16: autocast)')
    ap.add_argument('--json', help='write the results here as JSON')
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: torch.cuda.is_available() is False')
    args.precision = args.precision or ('tf32' if args.device == 'cuda' else 'fp32')
    torch.backends.cuda.matmul.allow_tf32 = args.precision == 'tf32'
    torch.backends.cudnn.allow_tf32 = args.precision == 'tf32'
    rows = []
    print(f"{'backend':<14} {'preset':<6} {'threads':>7} {'ms/step':>9} {'cpu ms':>9} {'train tok/s':>12} {'sample tok/s':>13} "
          f"{'LoRA tok/s':>11} {'score tok/s':>12} {'verify tok/s':>13}")
    for preset in args.preset.split(','):
        if preset not in PRESETS:
            raise SystemExit(f'--preset: unknown preset {preset!r} ({", ".join(PRESETS)})')
        r = bench(args, preset)
        rows.append(r)
        print(f"{r['backend']:<14} {preset:<6} {r['threads']:>7} {r['train_ms_per_step']:>9.1f} {r['train_cpu_ms_per_step']:>9.1f} {r['train_tokens_per_s']:>12.0f} "
              f"{r['sample_tokens_per_s']:>13.0f} {r['train_lora_tokens_per_s']:>11.0f} {r['score_tokens_per_s']:>12.0f} "
              f"{r['verify_tokens_per_s']:>13.0f}", flush=True)
    if args.json:
        tmp = args.json + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(rows, f, indent=2)
        os.replace(tmp, args.json)


if __name__ == '__main__':
    main()
