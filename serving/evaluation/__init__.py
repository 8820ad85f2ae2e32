"""The ``palimpsest eval`` measurements: they load the model through ``serving.core.model_loader``
and change weights only through ``ModelHost.set_parameters`` (see :mod:`serving.evaluation.host`)."""
