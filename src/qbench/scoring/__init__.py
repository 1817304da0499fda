"""A3 scoring beyond good/poor (issue 14): level-word softmaxes, generated ratings, fits and presets.

Each module is pure (numbers and text in, typed records out) so that tasks, importers and reports share one
definition of every formula:

- :mod:`qbench.scoring.levels`: Q-Align's 5-level weighted softmax, user-given levels, Q-Bench+ Eq. 2
  ensembles;
- :mod:`qbench.scoring.rating`: the published rating prompts and the strict parser of their replies;
- :mod:`qbench.scoring.samples`: ``samples=K`` decoding settings, seeds and per-image mean/std;
- :mod:`qbench.scoring.fit`: the 4-parameter logistic fit initialised the DeQA-Score way;
- :mod:`qbench.scoring.presets`: the published protocol presets (split lists, resize policy, fit type).

Nothing here imports numpy at module level except where the formula needs it, so ``import qbench`` stays light.
"""
