"""The lab: the seed lessons' worked examples as checkable data (see :mod:`chainrule.lab.lessons`)."""
