(call_expression function: (identifier) @reference.call)
(call_expression function: (field_expression field: (field_identifier) @reference.call))
(identifier) @reference.name
(type_identifier) @reference.name
