"""The figures the book shows are computed by tested functions."""

from pathlib import Path

import numpy as np
import plotly.io as pio
import pytest
import torch

import spikformer_lite as sl
from spikformer_lite import viz


def test_lif_response_matches_lif():
    r = viz.lif_response(1.3, T=25, tau=3.0, v_threshold=0.8)
    s, h = sl.lif(torch.full((25, 1), 1.3), tau=3.0, v_threshold=0.8, return_h=True)
    assert np.array_equal(r.s, s.flatten().numpy()) and np.array_equal(r.h, h.flatten().numpy())
    assert r.s.sum() > 0 and r.x.shape == (25,)


def test_lif_response_takes_a_time_varying_current():
    current = np.r_[np.zeros(5), np.full(5, 3.0)]
    r = viz.lif_response(current, T=10)
    assert r.s[:5].sum() == 0 and r.s[5:].sum() > 0
    with pytest.raises(ValueError):
        viz.lif_response(np.ones(7), T=10)  # length must match T


def test_lif_figure_traces():
    r = viz.lif_response(1.5, T=20)
    fig = viz.lif_figure(r)
    names = [t.name for t in fig.data]
    assert names[:3] == ["input X[t]", "membrane H[t]", "spike: H[t] ≥ V_th"]
    assert len(fig.data[2].x) == int(r.s.sum())  # one marker per spike
    assert np.array_equal(fig.data[3].y, r.s)


def test_slider_figure_frames_are_simulations():
    currents = [0.5, 1.0, 2.0]
    taus = (1.5, 3.0)
    fig = viz.lif_slider_figure(currents=currents, taus=taus, T=15)
    assert [f.name for f in fig.frames] == ["0.5", "1", "2"]
    assert len(fig.layout.sliders[0].steps) == 3
    for frame, c in zip(fig.frames, currents):
        assert len(frame.data) == len(fig.data) == 3 * len(taus)
        for col, tau in enumerate(taus):
            r = viz.lif_response(c, T=15, tau=tau)
            assert np.array_equal(frame.data[3 * col].y, r.h)
            assert np.array_equal(frame.data[3 * col + 2].y, r.s)


def test_surrogate_figure_gradient_peaks_at_threshold():
    fig = viz.surrogate_figure(alpha=4.0)
    grad = fig.data[3]
    assert np.isclose(np.max(grad.y), 1.0) and np.isclose(grad.x[np.argmax(grad.y)], 0.0)


def test_book_renderer_gives_html_without_plotly_js():
    viz.setup_plotly()
    bundle = pio.renderers._build_mime_bundle(viz.lif_figure(viz.lif_response(1.2, T=5)).to_dict())
    assert "application/vnd.plotly.v1+json" in bundle  # live Jupyter draws this
    html = bundle["text/html"]  # the built book shows this
    assert "Plotly.newPlot" in html and len(html) < 100_000  # the 4 MB library is not embedded
    assert "mathjax" not in html.lower()  # the book has its own MathJax
    slider_html = pio.renderers._build_mime_bundle(viz.lif_slider_figure(currents=[1, 2], T=5).to_dict())["text/html"]
    assert "Plotly.animate" not in slider_html  # a slider figure waits for the reader; it does not auto-play
    # The mode bar lies horizontally: the book's stylesheet moves it into a strip above the figure.
    assert '"modebar":{"orientation":"h"}' in html.replace(" ", "")
    css = (Path(__file__).resolve().parents[1] / "book" / "_ext" / "static" / "book.css").read_text()
    assert ".modebar-container { top: -26px !important; }" in css


def test_spike_and_attention_figures():
    s = (torch.rand(20, 8, 8) < 0.3).float()
    fig = viz.spike_maps_figure(s, channels=16)
    assert len(fig.data) == 16 and np.array_equal(fig.data[3].z, s[3].numpy())
    stages = [(torch.rand(c, n, n) < 0.3).float() for c, n in ((24, 16), (48, 8))]
    fig = viz.stage_slider_figure(stages, ["a", "b"], channels=16)
    assert len(fig.frames) == 16 and np.array_equal(fig.frames[5].data[1].z, stages[1][5].numpy())
    attn = torch.randint(0, 5, (3, 4, 6, 6)).float()
    fig = viz.attention_slider_figure(attn, heads=(0, 2))
    assert [f.name for f in fig.frames] == ["0", "1", "2"]
    assert np.array_equal(fig.frames[2].data[1].z, attn[2, 2].numpy())
    busiest = int(attn[:, [0, 2]].sum((1, 2, 3)).argmax())
    assert fig.layout.sliders[0].active == busiest                   # opens where Q and K fire most
    assert np.array_equal(fig.data[0].z, attn[busiest, 0].numpy())
    assert viz.attention_slider_figure(attn, heads=(0, 2), active=0).layout.sliders[0].active == 0


def test_attention_ops_and_tables():
    qk, kv = viz.attention_ops(np.array([64, 196]), 32)
    assert qk.tolist() == [2 * 64 * 64 * 32, 2 * 196 * 196 * 32] and kv.tolist() == [2 * 64 * 32 * 32, 2 * 196 * 32 * 32]
    fig = viz.ops_figure(d=32, N=[16, 32, 64])
    assert list(fig.data[0].y) == list(viz.attention_ops(np.array([16, 32, 64]), 32)[0])
    table = viz.markdown_table([dict(a=1, b="x"), dict(a=2, b="y")])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |", "| 2 | y |"]


def test_single_spike_map_is_sent_as_bytes():
    s = (torch.rand(32, 32) < 0.3).float()
    fig = viz.spike_map_figure(s, "x")
    assert fig.data[0].z.dtype == np.uint8 and np.array_equal(fig.data[0].z, s.numpy())


def test_event_figures():
    from spikformer_lite.data.events import EVENT_DTYPE

    ev = np.zeros(6, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = [0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], np.arange(6) * 1000, [1, 0, 1, 1, 0, 1]
    fig = viz.events_3d_figure(ev)
    assert len(fig.data[0].x) == 4 and len(fig.data[1].x) == 2  # ON and OFF
    frames = np.zeros((3, 2, 4, 5), np.float32)
    frames[1, 1, 2, 3] = 2  # two ON events
    frames[2, 0, 0, 0] = 1  # one OFF event
    fig = viz.frames_figure(frames)
    assert len(fig.data) == 3 and fig.data[1].z[2][3] == 2 and fig.data[2].z[0][0] == -1
    fig = viz.frames_figure(frames, polarity="split")           # the two channels the model receives
    assert len(fig.data) == 6 and fig.data[1].z[2][3] == 2 and fig.data[3 + 2].z[0][0] == 1 and fig.data[2].z[0][0] == 0
    with pytest.raises(ValueError, match="polarity"):
        viz.frames_figure(frames[:, :1], polarity="split")
    fig = viz.frames_slider_figure(frames)
    assert len(fig.frames) == 3 and fig.frames[2].data[1].z[0][0] == 1 and fig.frames[1].data[0].z[2][3] == 2
    fig = viz.emulator_slider_figure({0.1: ev, 0.3: ev[:2]}, (6, 6, 2))
    assert [f.name for f in fig.frames] == ["0.1", "0.3"] and "2 events" in fig.frames[1].layout.title.text


def test_attention_on_tokens_sums_queries_into_the_grid():
    attn = torch.zeros(2, 1, 3, 64, 64)
    attn[1, 0, 2, :, 10] = 1.0  # every query attends to key token 10 = grid (1, 2) at t=1, head 2
    g = sl.attention_on_tokens(attn)
    assert g.shape == (2, 1, 3, 8, 8) and g[1, 0, 2, 1, 2] == 64 and g.sum() == 64
    with pytest.raises(ValueError, match="square grid"):
        sl.attention_on_tokens(torch.zeros(1, 1, 1, 10, 10))


def test_firing_rates_are_means_of_the_recorded_spikes():
    model = sl.create_model("cifar10-4-384", depth=1, embed_dim=32, num_heads=2, T=2).eval()
    with torch.no_grad(), sl.record_spikes(model) as rec:
        model(model.encode(torch.rand(2, 3, 32, 32)))
    rates = sl.firing_rates(rec)
    assert list(rates) == list(rec.spikes) and rates["sps.stages.0.lif"] == rec.spikes["sps.stages.0.lif"].mean().item()


def test_attention_overlay_figures():
    image = np.zeros((32, 32, 3), np.uint8)
    grids = torch.rand(2, 4, 8, 8)  # (T, heads, g, g)
    fig = viz.attention_overlay_figure(image, [grids[0, 0], grids[1, 0]], ["a", "b"])
    assert [t.type for t in fig.data] == ["image", "heatmap", "image", "heatmap"]
    assert np.allclose(fig.data[1].z, grids[0, 0].numpy())
    assert fig.data[1].x[0] == pytest.approx(1.5) and fig.data[1].x[-1] == pytest.approx(29.5)  # token centres
    fig = viz.attention_overlay_slider_figure(image, grids, heads=(0, 3), active=1)
    assert len(fig.frames) == 2 and np.allclose(fig.data[3].z, grids[1, 3].numpy())  # opens at t=1
    assert np.allclose(fig.frames[0].data[1].z, grids[0, 0].numpy())


def test_training_figures():
    from spikformer_lite import train

    rows = [dict(epoch=e, train_loss=2 - e / 10, test_loss=2.1 - e / 10, train_acc=e / 10, test_acc=e / 11)
            for e in range(5)]
    fig = viz.training_curves_figure(rows)
    assert len(fig.data) == 4 and list(fig.data[3].y) == [r["test_acc"] for r in rows]
    r = train.get_recipe("cifar10", "paper")
    fig = viz.lr_schedule_figure({"paper": r})
    assert len(fig.data[0].x) == 311 and fig.data[0].y[0] == pytest.approx(1e-5) and max(fig.data[0].y) <= 5e-4
    # timm's per-epoch schedule is a staircase: the rate of epoch 3 holds until epoch 4; the quick one is smooth
    fig = viz.lr_schedule_figure({"paper": r, "quick": train.get_recipe("cifar10", "quick")}, epochs_per_point=0.25)
    paper_y, quick_y = dict(zip(fig.data[0].x, fig.data[0].y)), dict(zip(fig.data[1].x, fig.data[1].y))
    assert paper_y[3.0] == paper_y[3.75] == pytest.approx(train.lr_at(3, r)) and paper_y[3.75] < paper_y[4.0]
    assert fig.data[0].line.shape == "hv" and quick_y[3.0] != quick_y[3.75]


def test_membrane_traces_mark_each_spike():
    h = torch.tensor([[0.5, 1.2], [1.1, 0.3]])
    s = (h >= 1).float()
    fig = viz.membrane_traces_figure(h, s, names=["a", "b"])
    assert list(fig.data[1].x) == [1] and list(fig.data[3].x) == [0]  # spike markers at the crossings


def test_bptt_graph_follows_eq_1_to_3():
    edges = viz.bptt_edges(T=3, detach_reset=True)
    assert ("V[1]", "H[2]", "forward") in edges and ("V[2]", "H[0]", "forward") not in edges
    assert [e for e in edges if e[2] == "surrogate"] == [(f"H[{t}]", f"S[{t}]", "surrogate") for t in range(3)]
    assert {e[2] for e in edges if e[0].startswith("S") and e[1].startswith("V")} == {"detached"}
    assert {e[2] for e in viz.bptt_edges(T=3, detach_reset=False) if e[1].startswith("V") and e[0].startswith("S")} == {"reset"}
    assert sum(1 for e in edges if e[1] == "L") == 3
    fig = viz.bptt_figure(T=3)
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == len(edges)
    assert set(fig.data[0].text) == {f"{k}[{t}]" for k in "XHSV" for t in range(3)} | {"L"}


def test_architecture_figure_shows_measured_shapes():
    import spikformer_lite as sl

    model = sl.create_model("cifar10-2-384", embed_dim=64, num_heads=2).eval()
    x = model.encode(torch.randn(2, 3, 32, 32))
    with torch.no_grad():
        trace = sl.trace_shapes(model, x, viz.ARCHITECTURE_MODULES)
    fig = viz.architecture_figure(model.cfg, trace)
    texts = [a.text for a in fig.layout.annotations]
    assert "(4, 2, 64, 8, 8)" in texts and "(4, 2, 64, 64)" in texts and "(2, 10)" in texts
    assert sum("MaxPool" in t for t in texts) == sum(model.cfg.sps_pool) == 2
    assert "× L = 2 blocks" in texts
    with pytest.raises(ValueError, match="trace lacks"):
        viz.architecture_figure(model.cfg, trace[:3])


def _engine_run():
    from spikformer_lite.engine import Engine

    torch.manual_seed(0)
    model = sl.create_model("cifar10-4-384", depth=1, embed_dim=32, num_heads=2, T=2)
    x = torch.rand(4, 3, 32, 32) * 3
    sl.calibrate_batchnorm(model, model.encode(x))
    return Engine(model).run(x[:1], record=True)


def test_layer_activity_shows_what_the_engine_was_fed():
    run = _engine_run()
    z, kind, active, total = viz.layer_activity(run.inputs, "sps.stages.2.conv", t=1)
    x = run.inputs["sps.stages.2.conv"][1, 0]  # (32*32, 8) spikes
    assert kind == "grid" and z.shape == (32, 32) and z.sum() == active == np.count_nonzero(x)
    assert np.array_equal(z.flatten(), (x != 0).sum(1))
    z, kind, active, total = viz.layer_activity(run.inputs, "blocks.0.mlp.fc1.linear", t=0)
    assert kind == "raster" and z.shape == (64, 32) and total == 64 * 32
    fig = viz.layer_activity_figure(run.inputs, run.ops, "blocks.0.mlp.fc1.linear")
    bar = fig.data[1]
    assert list(bar.y) == list(run.ops.values()) and "accumulates" in fig.layout.title.text
    assert bar.marker.color[list(run.ops).index("blocks.0.mlp.fc1.linear")] == viz.SPIKE_COLOR
    slider = viz.layer_activity_slider_figure(run.inputs, run.ops)
    assert [f.name for f in slider.frames] == list(run.ops)
    assert f"{run.ops['sps.rpe.conv']:,} accumulates" in slider.frames[3].layout.title.text
    assert [viz.short_layer_name(n) for n in list(run.ops)[:6]] == ["sps1", "sps2", "sps3", "rpe", "b0 q", "b0 k"]
    assert viz.short_layer_name("blocks.0.attn.ssa") == "b0 ssa"


def test_and_popcount_figure_counts_the_common_spikes():
    q, k = np.array([1, 0, 1, 1, 0]), np.array([1, 1, 0, 1, 0])
    fig = viz.and_popcount_figure(q, k)
    assert np.array_equal(np.asarray(fig.data[0].z)[2], [1, 0, 0, 1, 0]) and "= 2 =" in fig.layout.title.text


def test_rate_sweep_figure_marks_the_crossover():
    sweep = {"layer": dict(rates=[0.01, 0.1, 0.5], events_s=[1e-3, 2e-3, 8e-3], dense_s=[4e-3, 4e-3, 4e-3],
                           crossover=0.2)}
    fig = viz.rate_sweep_figure(sweep, measured={"layer": ("model", 0.05)})
    assert list(fig.data[0].y) == [1.0, 2.0, 8.0] and fig.data[1].name.startswith("dense")
    assert any("crossover 0.200" in (a.text or "") for a in fig.layout.annotations)
    assert any((a.text or "") == "model" for a in fig.layout.annotations)


def test_energy_figures():
    from spikformer_lite import energy

    cfg = sl.get_config("cifar10-4-384")
    fig = viz.energy_figure(cfg, measured=("trained model", 0.12))
    names = [t.name for t in fig.data]
    assert len(fig.data) == 6 and names[-1] == "trained model: 0.120"
    be = energy.memory_model(cfg, 0.1)["break_even"]
    assert fig.data[4].x[0] == pytest.approx(be) and f"{be:.3f}" in names[4]
    # the SNN curves grow with the rate, the ANN ones do not
    assert fig.data[0].y[-1] > fig.data[0].y[0] and fig.data[1].y[-1] == fig.data[1].y[0]
    fig = viz.energy_slider_figure(cfg, T_values=(1, 2, 4))
    assert [f.name for f in fig.frames] == ["T=1", "T=2", "T=4"] and fig.layout.sliders[0].active == 2
    assert fig.frames[0].data[2].y[-1] < fig.frames[2].data[2].y[-1]  # more steps, more SNN energy
    fig = viz.attention_order_figure(384, 48, marks={"CIFAR-10": 64})
    qk, kv = fig.data
    assert (np.asarray(qk.y) > np.asarray(kv.y))[np.asarray(qk.x) > 48].all()
    assert (np.asarray(qk.y) < np.asarray(kv.y))[np.asarray(qk.x) < 48].all()


def test_engine_figures_keep_their_furniture_off_the_data():
    """The rate sweep's x axis spans its rates (annotations on a log axis sit at log10 of their position);
    the activity figure's colour bar lies under the left panel, clear of the bar chart."""
    sweep = {"layer": dict(rates=[0.01, 0.1, 0.3], events_s=[1e-3, 2e-3, 8e-3], dense_s=[4e-3, 4e-3, 4e-3],
                           crossover=0.2)}
    fig = viz.rate_sweep_figure(sweep, measured={"layer": ("model", 0.05)})
    lo, hi = fig.layout.xaxis.range
    assert np.log10(0.02) > lo > np.log10(0.005) and np.log10(0.3) < hi < np.log10(0.5)
    notes = {a.text: a for a in fig.layout.annotations}
    assert notes["crossover 0.200"].x == pytest.approx(np.log10(0.2)) and notes["model"].x == pytest.approx(np.log10(0.05))
    assert sorted(s.x0 for s in fig.layout.shapes) == [0.05, 0.2]  # shapes take the value itself
    run = _engine_run()
    fig = viz.layer_activity_figure(run.inputs, run.ops, "blocks.0.mlp.fc1.linear")
    bar = fig.data[0].colorbar
    assert bar.orientation == "h" and bar.y < 0 and bar.x + bar.len / 2 <= fig.layout.xaxis.domain[1] + 1e-9
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0]


def test_progress_bars_follow_spikformer_progress(monkeypatch, capsys):
    """The book build sets SPIKFORMER_PROGRESS=off: no widget bar is saved frozen at its first state."""
    import tqdm.auto
    import tqdm.std

    from spikformer_lite import progress

    monkeypatch.setenv("SPIKFORMER_PROGRESS", "off")
    bar = progress.tqdm(range(5), desc="x")
    assert bar.disable and list(bar) == list(range(5))
    monkeypatch.setenv("SPIKFORMER_PROGRESS", "plain")
    bar = progress.tqdm(total=3, desc="plain")
    assert type(bar) is tqdm.std.tqdm and not bar.disable
    bar.update(3)
    bar.close()
    assert "3/3" in capsys.readouterr().err
    monkeypatch.delenv("SPIKFORMER_PROGRESS")
    bar = progress.tqdm(total=1, disable=True)
    assert isinstance(bar, tqdm.auto.tqdm)
    monkeypatch.setenv("SPIKFORMER_PROGRESS", "widget")
    with pytest.raises(ValueError):
        progress.tqdm(total=1)


def test_the_book_build_turns_progress_bars_off():
    from pathlib import Path

    make = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "SPIKFORMER_PROGRESS=off $(VENV)/bin/jupyter-book build" in make


def test_event_frames_grid_figure_rows_per_recording_and_polarity():
    frames = np.zeros((2, 3, 2, 5, 5), np.uint8)
    frames[0, 1, 1, 2, 3] = 4       # recording 0, bin 1, ON
    frames[1, 2, 0, 0, 0] = 2       # recording 1, bin 2, OFF
    fig = viz.event_frames_grid_figure(frames, ["a", "b"], title="t")
    assert len(fig.data) == 2 * 2 * 3
    assert fig.data[1].z[2][3] == 4 and fig.data[1].colorscale[-1][1] != fig.data[3].colorscale[-1][1]  # ON reds
    assert fig.data[3 * 3 + 2].z[0][0] == 2                 # b's OFF row, t=2
    assert all(t.zmax == 4 for t in fig.data)               # one colour range for all panels
    assert [a.text for a in fig.layout.annotations][:4] == ["a: ON t=0", "a: ON t=1", "a: ON t=2", "a: OFF t=0"]
    with pytest.raises(ValueError):
        viz.event_frames_grid_figure(frames, ["a"])


def test_confusion_matrix_and_figure():
    cm = viz.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]] and cm.sum() == 4
    with pytest.raises(ValueError):
        viz.confusion_matrix([0, 3], [0, 1], 3)
    fig = viz.confusion_figure({"A": cm, "B": 2 * cm}, ["x", "y", "z"], title="c")
    assert len(fig.data) == 2 and fig.data[1].zmax == 2 and fig.data[0].text[1][2] == "1" and fig.data[0].text[0][1] == ""
    assert [a.text for a in fig.layout.annotations] == ["A", "B"]


def test_attention_overlay_slider_grid():
    """cols wraps the heads into rows; titles replace the default head names."""
    image = np.zeros((32, 32, 3), np.uint8)
    grids = torch.rand(2, 8, 8, 8)  # (T, heads, g, g)
    fig = viz.attention_overlay_slider_figure(image, grids, heads=tuple(range(8)), cols=4,
                                              titles=[f"h{h}" for h in range(8)])
    assert len(fig.data) == 16 and len(fig.frames) == 2
    assert fig.data[9].xaxis == "x5" and fig.data[9].yaxis == "y5"          # head 4 opens the second row
    assert fig.layout.xaxis5.domain == fig.layout.xaxis.domain              # same column as head 0
    assert fig.layout.yaxis5.domain[1] < fig.layout.yaxis.domain[0]         # below it
    assert [a.text for a in fig.layout.annotations][:2] == ["h0", "h1"]
    assert np.allclose(fig.data[9].z, grids[0, 4].numpy())


def test_wrap_title_keeps_every_word_and_fits_lines():
    from spikformer_lite.viz._base import wrap_title

    text = "record 3007 (cat no. 8 of the class-sorted test set)<br><sub>CIFAR-10, JPEG re-encoded (quality 75)</sub>"
    wrapped = wrap_title(text, 240)
    lines = wrapped.split("<br>")
    assert len(lines) > 2
    assert all(len(line.replace("<sub>", "").replace("</sub>", "")) <= 40 for line in lines)
    assert " ".join(line.replace("<sub>", "").replace("</sub>", "") for line in lines).split() == \
        text.replace("<br>", " ").replace("<sub>", "").replace("</sub>", "").split()
    assert all(line.startswith("<sub>") and line.endswith("</sub>") for line in lines if "JPEG" in line)
    assert wrap_title("short", 600) == "short"
