"""A NaN hunt in a PyTorch model: where was the first number that is not finite made?

torch.autograd.detect_anomaly() answers from the backward side: it stops at the first backward
node that returns a NaN, which is downstream of the node that made it. chainrule.torch's
first_nonfinite() reads the graph in forward order and names the node itself.

    python examples/nan_hunt_torch.py
"""
import warnings

import torch

import chainrule.torch as crt

torch.manual_seed(0)
x = torch.tensor([[0.5, -1.0], [1.5, 2.0], [-0.5, 0.25]])
W = torch.tensor([[0.8, -0.4], [0.3, 0.9]], requires_grad=True)

h = x @ W                      # some entries are negative...
feature = torch.sqrt(h)        # ...so their square root is nan: the true first bad node
scores = feature * 3.0
penalty = scores ** 2
loss = penalty.mean()          # the NaN reaches the loss four steps later

bad = crt.first_nonfinite(loss)
print("chainrule:", bad)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        with torch.autograd.detect_anomaly():
            (((torch.sqrt(x @ W)) * 3.0) ** 2).mean().backward()
    except RuntimeError as e:
        print("anomaly mode:", str(e).splitlines()[0])
