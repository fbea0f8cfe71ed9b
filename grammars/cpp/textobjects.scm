; inherits: c
(lambda_expression
  body: (compound_statement) @function.inside) @function.around

(class_specifier
  body: (field_declaration_list) @class.inside) @class.around
