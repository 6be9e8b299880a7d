//! Breathing-pattern classification: the classifier trait, the rule-based baseline and the
//! session verdict (placeholder: being written).
