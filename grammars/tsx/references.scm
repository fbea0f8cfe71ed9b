(call_expression function: (identifier) @reference.call)
(call_expression function: (member_expression property: (property_identifier) @reference.call))
(identifier) @reference.name
(type_identifier) @reference.name
