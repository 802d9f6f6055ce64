"""The 24/7 customer-service assistant (issue #20): answers a logged-in consumer's questions
in zh-CN or en from their own data and the platform's documents, proposes actions the
consumer confirms elsewhere, and never moves money itself.

Modules: :mod:`.intents` (the 15 intents), :mod:`.classifier` (scikit-learn intent model,
jieba word segmentation), :mod:`.retrieval` (BM25 over the packaged corpus), :mod:`.answers`
(templates filled with the consumer's figures), :mod:`.safety` (injection and
social-engineering refusals, masking of stored text), :mod:`.service` (``ask``: one turn in
one transaction), :mod:`.llm` (the optional local-LLM rephraser). docs/assistant.md.
"""

from __future__ import annotations
