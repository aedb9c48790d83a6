"""Training: the recipes (Siamese, triplet, SimCLR, SupCon), the loop they run in, and checkpoints.

Each recipe is a frozen config dataclass with tested defaults, in a module of its own that also
holds what it trains (``build``); ``train(config, data)`` returns the trained
:class:`~contrastkit.models.ConvEncoder` and a per-epoch history::

    import contrastkit as ck
    data = ck.data.load_mnist()
    model, history = ck.train.train(ck.train.SupConConfig(), data)

- :mod:`~contrastkit.train.config`: the base config, the registry ``CONFIGS`` and serialisation.
- :mod:`~contrastkit.train.siamese`, :mod:`~contrastkit.train.triplet`, :mod:`~contrastkit.train.simclr`,
  :mod:`~contrastkit.train.supcon`: the recipes.
- :mod:`~contrastkit.train.loop`: ``fit``, the generic loop (optimiser and schedule, progress bars,
  callbacks, mixed precision on CUDA, ``TrainingDivergedError`` when the loss turns NaN).
- :mod:`~contrastkit.train.checkpoint`: atomic checkpoints and exact resume.
- :mod:`~contrastkit.train.trainer`: ``train`` and ``train_cached`` (train once per config and data).

References:
    - [0] Hadsell, Chopra and LeCun 2006, CVPR 2006 (contrastive pair loss)
    - [1] FaceNet, Schroff et al. 2015, arXiv:1503.03832; Hermans et al. 2017, arXiv:1703.07737
    - [2] SimCLR, Chen et al. 2020, arXiv:2002.05709
    - [3] Supervised Contrastive Learning, Khosla et al. 2020, arXiv:2004.11362
"""

from contrastkit.train.checkpoint import CHECKPOINT_NAME, load_checkpoint
from contrastkit.train.config import (
    CONFIGS,
    RecipeConfig,
    config_from_dict,
    make_config,
    parse_overrides,
    recipe_fields,
)
from contrastkit.train.loop import SCHEDULES, Callback, TrainingDivergedError, fit
from contrastkit.train.siamese import SiameseConfig
from contrastkit.train.simclr import SimCLRConfig
from contrastkit.train.supcon import SupConConfig
from contrastkit.train.trainer import cache_key, data_digest, latest_cached, train, train_cached
from contrastkit.train.triplet import TripletConfig

#: The recipes' names, in the order of the course.
METHODS: tuple[str, ...] = tuple(CONFIGS)

__all__ = [
    "CHECKPOINT_NAME",
    "CONFIGS",
    "METHODS",
    "SCHEDULES",
    "Callback",
    "RecipeConfig",
    "SiameseConfig",
    "SimCLRConfig",
    "SupConConfig",
    "TrainingDivergedError",
    "TripletConfig",
    "cache_key",
    "config_from_dict",
    "data_digest",
    "fit",
    "latest_cached",
    "load_checkpoint",
    "make_config",
    "parse_overrides",
    "recipe_fields",
    "train",
    "train_cached",
]
