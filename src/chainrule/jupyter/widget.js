// chainrule's notebook widget (anywidget): the player, recomputed by the Python engine.
//
// The op table's JS and the player come first in this module (chainrule.jupyter.esm()). The
// model holds `data` (the player's data), `values` (input label -> number), `state` (the
// Python engine's latest trace, or its error) and `step` (the step shown). At start the page
// sends {type: "ping"}; a kernel answers {type: "pong"}, and from then on every new set of
// inputs goes to Python (model.set("values")) and its trace comes back in `state`. With no
// kernel, nothing answers and the page recomputes with the op table's JS, as a saved page does.

function render({ model, el }) {
  const host = document.createElement("div");
  host.className = "crp-host chainrule-widget";
  el.appendChild(host);
  let live = false;
  let seq = (model.get("state") || {}).seq || 0;
  const kernel = {
    live: () => live,
    compute: (values) => {
      model.set("values", values);
      model.save_changes();
    },
  };
  const Player = globalThis.ChainrulePlayer;
  const player = Player.mount(host, model.get("data"), {
    kernel,
    onStep: (k) => {
      if (model.get("step") !== k) {
        model.set("step", k);
        model.save_changes();
      }
    },
  });
  host.dataset.kernel = "no";
  const onState = () => {
    const s = model.get("state") || {};
    if (!s.seq || s.seq === seq) return;
    seq = s.seq;
    player.useTrace(s.trace, s.error);
  };
  const onStep = () => {
    const k = model.get("step");
    if (k !== player.k) player.go(k);
  };
  const onMsg = (msg) => {
    if (msg && msg.type === "pong") {
      live = true;
      host.dataset.kernel = "yes";
    }
  };
  model.on("change:state", onState);
  model.on("change:step", onStep);
  model.on("msg:custom", onMsg);
  model.send({ type: "ping" });
  if (model.get("step")) player.go(model.get("step"));
  return () => {
    model.off("change:state", onState);
    model.off("change:step", onStep);
    model.off("msg:custom", onMsg);
    player.destroy();
  };
}

export default { render };
