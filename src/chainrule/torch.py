"""``chainrule.torch``: PyTorch computations explained by chainrule (see :mod:`chainrule.torch_bridge`).

Importing this module does not import PyTorch; the functions do, on first use, and say
``pip install torch==2.13.0`` if it is missing.
"""
from .torch_bridge import *  # noqa: F401,F403
from .torch_bridge import __all__  # noqa: F401
