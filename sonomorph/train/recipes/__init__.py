"""Training recipes: one module per trained capability, each holding its
:class:`~sonomorph.train.TrainTask` and :class:`~sonomorph.train.TrainConfig` subclass."""
