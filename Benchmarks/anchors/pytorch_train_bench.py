# PyTorch eager anchor for `grm train-bench`: SmolLM2-135M shapes (30 layers, width 576, 9/3 heads,
# FFN 1536, vocab 49152, tied output), f32, batch 4 x 256, forward + backward + AdamW.
# With a LoRA rank (the anchor of `grm train-bench --lora R`): the f32 base frozen, rank-R adapters
# on the seven projections (PEFT's init and scale alpha/r with alpha = 2r), AdamW on the adapters.
# With checkpointing 1: torch.utils.checkpoint around each block (`--gradient-checkpointing`).
#   python3 -m venv venv && venv/bin/pip install torch==2.15.0
#   venv/bin/python pytorch_train_bench.py [threads] [steps] [layers] [lora rank, 0: full] [checkpointing 0/1]
import sys, time, math, resource
import torch, torch.nn as nn, torch.nn.functional as F, torch.utils.checkpoint

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
layers = int(sys.argv[3]) if len(sys.argv) > 3 else 30
rank = int(sys.argv[4]) if len(sys.argv) > 4 else 0
checkpointing = len(sys.argv) > 5 and sys.argv[5] == "1"
torch.set_num_threads(threads)
torch.manual_seed(0)
V, D, H, KV, FF, B, T = 49152, 576, 9, 3, 1536, 4, 256
hd = D // H

def rope(x, cos, sin):  # x [B, h, T, hd], halves layout
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

class LoRALinear(nn.Module):  # PEFT's LoRA layer: frozen W, A Kaiming-uniform, B zero, scale alpha / r
    def __init__(s, n_in, n_out):
        super().__init__()
        s.base = nn.Linear(n_in, n_out, bias=False)
        s.base.weight.requires_grad_(False)
        s.a = nn.Linear(n_in, rank, bias=False); nn.init.kaiming_uniform_(s.a.weight, a=math.sqrt(5))
        s.b = nn.Linear(rank, n_out, bias=False); nn.init.zeros_(s.b.weight)
        s.scale = 2.0
    def forward(s, x): return s.base(x) + s.b(s.a(x)) * s.scale

def Lin(n_in, n_out): return LoRALinear(n_in, n_out) if rank > 0 else nn.Linear(n_in, n_out, bias=False)

class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.n1, s.n2 = nn.RMSNorm(D, eps=1e-5), nn.RMSNorm(D, eps=1e-5)
        s.q, s.k, s.v, s.o = Lin(D, D), Lin(D, KV * hd), Lin(D, KV * hd), Lin(D, D)
        s.g, s.u, s.d = Lin(D, FF), Lin(D, FF), Lin(FF, D)
    def forward(s, x, cos, sin):
        h = s.n1(x)
        q = s.q(h).view(B, T, H, hd).transpose(1, 2)
        k = s.k(h).view(B, T, KV, hd).transpose(1, 2)
        v = s.v(h).view(B, T, KV, hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + s.o(a.transpose(1, 2).reshape(B, T, D))
        h = s.n2(x)
        return x + s.d(F.silu(s.g(h)) * s.u(h))

class Model(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(V, D)
        s.blocks = nn.ModuleList([Block() for _ in range(layers)])
        s.norm = nn.RMSNorm(D, eps=1e-5)
        inv = 1.0 / (100000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.arange(T).float()[:, None] * inv[None, :]
        s.register_buffer("cos", ang.cos()); s.register_buffer("sin", ang.sin())
    def forward(s, ids):
        x = s.emb(ids)
        for b in s.blocks:
            x = torch.utils.checkpoint.checkpoint(b, x, s.cos, s.sin, use_reentrant=False) if checkpointing else b(x, s.cos, s.sin)
        return s.norm(x) @ s.emb.weight.t()   # tied output

m = Model()
nn.init.normal_(m.emb.weight, std=0.02)
if rank > 0:
    for p in [m.emb.weight, m.norm.weight] + [p for b in m.blocks for p in (b.n1.weight, b.n2.weight)]: p.requires_grad_(False)
trainable = [p for p in m.parameters() if p.requires_grad]
opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.01)
what = f"LoRA r {rank} ({sum(p.numel() for p in trainable)} trainable)" if rank > 0 else "full training"
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {sum(p.numel() for p in m.parameters())/1e6:.0f}M params, {layers} layers, {what}{', checkpointing' if checkpointing else ''}, batch {B}x{T}", flush=True)
times = []
for step in range(steps + 1):
    ids = torch.randint(0, V, (B, T + 1))
    t0 = time.perf_counter()
    logits = m(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    opt.step(); opt.zero_grad(set_to_none=True)
    t3 = time.perf_counter()
    tag = "warm-up" if step == 0 else f"step {step}"
    print(f"{tag}: loss {loss.item():.4f} forward {t1-t0:.2f}s backward {t2-t1:.2f}s adamw {t3-t2:.2f}s total {t3-t0:.2f}s {B*T/(t3-t0):.1f} tok/s", flush=True)
    if step > 0: times.append(t3 - t0)
times.sort()
med = times[len(times) // 2]
print(f"median {med:.2f}s per step, {B*T/med:.1f} tokens/s; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/2**20:.2f} GiB")
