"""IAM for the local run: an AWS policy evaluator (`evaluate`) and the synthesized template's
policies resolved to local names (`TemplatePolicies`), so a call the deployed roles would be
denied is denied locally too."""
from local.iam.evaluator import Decision, Matched, Request, evaluate
from local.iam.template import TemplatePolicies

__all__ = ["Decision", "Matched", "Request", "TemplatePolicies", "evaluate"]
