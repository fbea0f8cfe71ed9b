; Definitions, with @doc where a docstring opens the body.
(class_definition
  name: (identifier) @name
  body: (block . (expression_statement (string) @doc))) @definition.class

(class_definition
  name: (identifier) @name) @definition.class

(class_definition
  body: (block
    (function_definition
      name: (identifier) @name
      body: (block . (expression_statement (string) @doc))) @definition.method))

(class_definition
  body: (block
    (decorated_definition
      definition: (function_definition
        name: (identifier) @name) @definition.method)))

(class_definition
  body: (block
    (function_definition
      name: (identifier) @name) @definition.method))

(function_definition
  name: (identifier) @name
  body: (block . (expression_statement (string) @doc))) @definition.function

(function_definition
  name: (identifier) @name) @definition.function

(module
  (expression_statement
    (assignment left: (identifier) @name) @definition.constant))

; a class's fields and attributes (x: int, x = 0), shown in its skeleton
(class_definition
  body: (block
    (expression_statement
      (assignment left: (identifier) @name) @definition.field)))
