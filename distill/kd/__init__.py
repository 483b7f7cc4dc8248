"""Knowledge-distillation terms, in one room: logit losses by label kind and the ranking ones
(``losses``, ``ranking``), intermediate-layer terms (``layer_transfer``), the teacher's cached answers
(``teacher_cache``), the schedule that moves targets from teacher to labels (``annealing``) and the
objective that mixes them for every head of one student (``objective``)."""
