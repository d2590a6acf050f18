"""A torch.nn.Sequential MLP on the digits data set, explained layer by layer by chainrule.

The digits (8×8 images, 10 classes) ship with scikit-learn: nothing is downloaded.

    python examples/mlp_digits_torch.py
"""
import torch
from sklearn.datasets import load_digits

import chainrule.torch as crt

torch.manual_seed(0)
digits = load_digits()
X = torch.tensor(digits.data[:256] / 16.0, dtype=torch.float32)
labels = torch.tensor(digits.target[:256])

model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.5)
for step in range(30):                                       # a little training, plain PyTorch
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(X), labels)
    loss.backward()
    opt.step()
print(f"after 30 steps: loss {loss.item():.4f}")

loss = torch.nn.functional.cross_entropy(model(X), labels)
t = crt.trace(loss, model)                                   # names from model.named_parameters()
print(f"{len(t.nodes)} nodes: " + ", ".join(n.op for n in t.nodes if n.op))
for w in t.warnings:
    print("note:", w)
print()
print(crt.explain(t, "0.weight").to_text())                  # the layer-level chain, with shapes

grad = torch.autograd.grad(loss, model[0].weight)[0]
e = crt.explain(t, "0.weight")
print(f"\n‖∂L/∂0.weight‖ = {e.grad_norm:.6f}; torch.autograd.grad gives {grad.norm().item():.6f}")
