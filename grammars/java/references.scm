(method_invocation name: (identifier) @reference.call)
(object_creation_expression type: (type_identifier) @reference.call)
(method_reference (identifier) @reference.call)
(identifier) @reference.name
(type_identifier) @reference.name
