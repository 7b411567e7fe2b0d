r"""Energy of an ANN and its SNN twin (paper Section 5.4, Tables 5–6; docs/method.md §8).

* :mod:`.counts`: MACs of conv/linear/pooling by hand, E = 0.9 pJ·#Add + 4.6 pJ·#Mult,
  data-movement bits and energy, the paper's Table 5 recomputed (its J/mJ are µJ), the
  CIFAR ResNet-18 hand count (555,422,720 MACs) and what the paper's 187M could be;
* :mod:`.synops`: synaptic operations in NeuroBench's terms (dense, effective), activation
  sparsity, neuron updates;
* :mod:`.measure`: per-layer counts and SNN firing rates measured on real data;
* :mod:`.report`: Tables 5–6 for a trained checkpoint (``python -m minijoint energy``);
* :mod:`.models`: named cost models (``paper``; ``lemaire``, ``lemaire-int8``: arithmetic,
  memory and addressing) and the break-even input rate;
* :mod:`.verdict`: one checkpoint under one cost model (``--model NAME``).
"""
from .counts import *  # noqa: F401,F403
from .synops import *  # noqa: F401,F403
from .measure import *  # noqa: F401,F403
from .report import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .verdict import *  # noqa: F401,F403
from .counts import __all__ as _counts_all
from .synops import __all__ as _synops_all
from .measure import __all__ as _measure_all
from .report import __all__ as _report_all
from .models import __all__ as _models_all
from .verdict import __all__ as _verdict_all

__all__ = (list(_counts_all) + list(_synops_all) + list(_measure_all) + list(_report_all)
           + list(_models_all) + list(_verdict_all))
