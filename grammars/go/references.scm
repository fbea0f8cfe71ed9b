(call_expression function: (identifier) @reference.call)
(call_expression function: (selector_expression field: (field_identifier) @reference.call))
(identifier) @reference.name
(type_identifier) @reference.name
