"""``chainrule.nn``: modules, layers, losses and data helpers with PyTorch's names.

    from chainrule import nn
    from chainrule.nn import functional as F
    from chainrule.optim import SGD

    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    for xb, yb in nn.batches(X, y, batch_size=32, seed=0):
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
"""
from . import functional, init
from .data import batches
from .layers import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Flatten, Identity, LeakyReLU,
                     Linear, LogSoftmax, MSELoss, NLLLoss, ReLU, Sequential, Sigmoid, Softmax, Tanh)
from .module import Module, Parameter, StateDictError

__all__ = ["Module", "Parameter", "StateDictError", "Linear", "Sequential", "ReLU", "Sigmoid", "Tanh",
           "LeakyReLU", "Dropout", "Flatten", "Identity", "Softmax", "LogSoftmax", "MSELoss",
           "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "batches", "functional", "init"]
