(method_declaration
  body: (block) @function.inside) @function.around

(constructor_declaration
  body: (constructor_body) @function.inside) @function.around

(compact_constructor_declaration
  body: (block) @function.inside) @function.around

(lambda_expression
  body: (_) @function.inside) @function.around

(class_declaration
  body: (class_body) @class.inside) @class.around

(record_declaration
  body: (class_body) @class.inside) @class.around

(interface_declaration
  body: (interface_body) @class.inside) @class.around

(enum_declaration
  body: (enum_body) @class.inside) @class.around

;; JUnit 5's and JUnit 4's tests: @Test (also written @org.junit.jupiter.api.Test, or JUnit 4's @Test(expected = …))
((method_declaration
  (modifiers
    [(marker_annotation name: [(identifier) (scoped_identifier name: (identifier))] @_test_annotation)
     (annotation name: [(identifier) (scoped_identifier name: (identifier))] @_test_annotation)])) @test.around
  (#match? @_test_annotation "(^|[.])Test$"))

;; JUnit 5's tests that run as several invocations under their own name: a parameterized test's cases, a repeated
;; test's repetitions, a test factory's dynamic tests, a test template's invocations
((method_declaration
  (modifiers
    [(marker_annotation name: [(identifier) (scoped_identifier name: (identifier))] @_cases_annotation)
     (annotation name: [(identifier) (scoped_identifier name: (identifier))] @_cases_annotation)])) @test.around @test.cases
  (#match? @_cases_annotation "(^|[.])(ParameterizedTest|RepeatedTest|TestFactory|TestTemplate)$"))

;; a test or test class the runner skips as written: JUnit 5's @Disabled, JUnit 4's @Ignore
((method_declaration
  (modifiers
    [(marker_annotation name: [(identifier) (scoped_identifier name: (identifier))] @_skip_annotation)
     (annotation name: [(identifier) (scoped_identifier name: (identifier))] @_skip_annotation)])) @test.skipped
  (#match? @_skip_annotation "(^|[.])(Disabled|Ignore)$"))

((class_declaration
  (modifiers
    [(marker_annotation name: [(identifier) (scoped_identifier name: (identifier))] @_skip_annotation)
     (annotation name: [(identifier) (scoped_identifier name: (identifier))] @_skip_annotation)])) @test.skipped
  (#match? @_skip_annotation "(^|[.])(Disabled|Ignore)$"))
