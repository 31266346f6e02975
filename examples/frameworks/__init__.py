"""Example agents whose reasoning is an agent framework's (``pip install 'durasumi[frameworks]'``).

They import their framework (and so ``openai``) at import time, unlike the other examples.
"""
