"""Vern as an LTI 1.3 / LTI Advantage tool: launched from a company's LMS, scores posted back."""
