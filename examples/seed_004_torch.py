"""Seed 004's last example, written in PyTorch, explained by chainrule.

PyTorch says w1.grad is tensor(1.56) and w2.grad is tensor(-2.60): "same as manual!". chainrule
shows the manual part: each gradient as the chain rule, every factor a number PyTorch computed.

    python examples/seed_004_torch.py
"""
import sys

import torch

import chainrule.torch as crt
from chainrule.viz import trace_to_html

# Same 2-layer example, as the seed writes it
x = torch.tensor(2.0)
y = torch.tensor(1.0)
w1 = torch.tensor(0.5, requires_grad=True)
w2 = torch.tensor(-0.3, requires_grad=True)

z1 = w1 * x
a1 = torch.relu(z1)
z2 = w2 * a1
L = (z2 - y) ** 2

t = crt.trace(L)                 # before L.backward(): PyTorch frees what it saved for its backward
e = crt.explain(t)
print(e.chain_line("w1"))
print(e.chain_line("w2"))

L.backward()
print(f"w1.grad = {w1.grad.item():.2f}, w2.grad = {w2.grad.item():.2f}  (PyTorch's own backward)")
assert abs(e.chain("w1").grad - w1.grad.item()) < 1e-6 and abs(e.chain("w2").grad - w2.grad.item()) < 1e-6

if len(sys.argv) > 1:          # python examples/seed_004_torch.py page.html: the player, one offline file
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        f.write(trace_to_html(t, title="Seed 004 in PyTorch, explained"))
