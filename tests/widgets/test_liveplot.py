"""The live training plot (contrastkit.widgets.liveplot): redrawn each epoch, headless or in one display."""

from __future__ import annotations

import pytest
import torch

from contrastkit import widgets


def test_live_history_plot_redraws_each_epoch_headless(tmp_path):
    plot = widgets.LiveHistoryPlot(save_path=tmp_path / "curves.png")
    assert plot.display is False  # not inside a notebook kernel
    history = {"epoch": [], "loss": [], "knn_accuracy": [], "embedding_std": []}
    for epoch in (1, 2, 3):
        history["epoch"].append(epoch)
        history["loss"].append(1.0 / epoch)
        history["knn_accuracy"].append(float("nan") if epoch == 2 else 0.5 + 0.1 * epoch)
        history["embedding_std"].append(0.1)
        plot(epoch, history)
        assert plot.n_updates == epoch
        ax_loss, ax_knn = plot.figure.axes
        assert len(ax_loss.lines[0].get_xdata()) == epoch
        assert plot.figure._suptitle.get_text() == f"epoch {epoch}"
    assert len(ax_knn.lines[0].get_xdata()) == 2  # the NaN epoch is skipped
    assert ax_knn.get_title() == "kNN accuracy: 0.8"
    assert (tmp_path / "curves.png").read_bytes() == plot.png
    assert plot._repr_png_() == plot.png


def test_live_history_plot_updates_one_display(monkeypatch):
    import IPython.display

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj))

    def fake_display(obj, display_id=False):
        shown.append(("display", obj))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    plot = widgets.LiveHistoryPlot(display=True)
    for epoch in (1, 2):
        plot(epoch, {"epoch": list(range(1, epoch + 1)), "loss": [1.0] * epoch})
    assert [kind for kind, _ in shown] == ["display", "update"]
    assert shown[-1][1].data == plot.png


def test_live_history_plot_as_a_training_callback():
    from contrastkit import data as ck_data
    from contrastkit import train

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 28, 28, generator=gen)
    y = torch.arange(4).repeat(10)
    small = ck_data.MNISTData(x_train=x, y_train=y, x_test=x[:20], y_test=y[:20], source="sample")
    config = train.TripletConfig(
        epochs=2, batch_size=16, embedding_dim=8, width=4, knn_subset=20, knn_queries=20, classes_per_batch=4,
        samples_per_class=4,
    )  # fmt: skip
    plot = widgets.LiveHistoryPlot(keys=("loss", "knn_accuracy", "active_fraction"))
    _, history = train.train(config, small, callbacks=[plot], progress=False)
    assert plot.n_updates == 2
    assert len(plot.figure.axes) == 3
    assert len(plot.figure.axes[0].lines[0].get_xdata()) == len(history["loss"]) == 2


def test_live_history_plot_rejects_bad_keys():
    with pytest.raises(ValueError, match="keys"):
        widgets.LiveHistoryPlot(keys="loss")


def test_widgets_re_exports_the_live_figures():
    """Explorer lives in contrastkit.widgets.figure, LiveHistoryPlot in contrastkit.widgets.liveplot."""
    from contrastkit.widgets import figure, liveplot

    for name in widgets.__all__:
        assert hasattr(widgets, name), name
    for name in liveplot.__all__:
        assert getattr(widgets, name) is getattr(liveplot, name), name
    for name in ("Explorer", "figure_png"):
        assert getattr(widgets, name) is getattr(figure, name), name
