"""Views of a :class:`~chainrule.trace.Trace`: layout, SVG, DOT, PNG and the HTML player.

Every view reads the recorded numbers; none recomputes a value or a
derivative (the HTML player recomputes only when you move a slider, with
JavaScript generated from the op table).

>>> from chainrule import Value, trace
>>> from chainrule.viz import trace_to_svg, trace_to_html
>>> x = Value(2.0, name="x"); y = (3 * x + 1) ** 2; y.name = "y"
>>> svg = trace_to_svg(trace(y))          # a static drawing
>>> page = trace_to_html(trace(y))        # one self-contained HTML file
"""
from .dot import trace_to_dot
from .html import load_player, notebook_html, player_assets, player_data, trace_to_html, value_to_html
from .layout import count_crossings, layered, layout_trace
from .png import trace_to_png
from .svg import trace_to_svg, value_to_svg
from .. import display as _display

# Jupyter's _repr_svg_ / _repr_html_ of Value, Tensor and Trace ask chainrule.display for these
_display.register("graph", "svg", value_to_svg)
_display.register("graph", "html", value_to_html)
_display.register("trace", "svg", trace_to_svg)
_display.register("trace", "html", notebook_html)

__all__ = ["trace_to_svg", "value_to_svg", "trace_to_dot", "trace_to_png", "trace_to_html", "notebook_html", "load_player",
           "player_assets", "player_data", "layout_trace", "layered", "count_crossings"]
