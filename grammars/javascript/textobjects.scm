(function_declaration
  body: (statement_block) @function.inside) @function.around

(method_definition
  body: (statement_block) @function.inside) @function.around

(arrow_function
  body: (_) @function.inside) @function.around

(function_expression
  body: (statement_block) @function.inside) @function.around

(class_declaration
  body: (class_body) @class.inside) @class.around

((call_expression
  function: (identifier) @_test_fn
  arguments: (arguments (string) (_))) @test.around
  (#any-of? @_test_fn "test" "it"))

;; test.only(…), it.concurrent(…) (vitest, jest), test.serial(…) (ava): tests run as any other
((call_expression
  function: (member_expression
    object: (identifier) @_test_fn
    property: (property_identifier) @_test_modifier)
  arguments: (arguments (string) (_))) @test.around
  (#any-of? @_test_fn "test" "it")
  (#any-of? @_test_modifier "only" "concurrent" "serial"))

;; test.each(table)("adds %i + %i", fn), it.each`…`(…) (jest, vitest, bun): one test per case, named from the title
((call_expression
  function: [
    (call_expression function: (member_expression object: (identifier) @_test_fn property: (property_identifier) @_each))
    (member_expression object: (call_expression function: (member_expression object: (identifier) @_test_fn property: (property_identifier) @_each)))
  ]
  arguments: (arguments (string) (_))) @test.around
  (#any-of? @_test_fn "test" "it")
  (#eq? @_each "each"))

;; node-tap: t.test("name", fn) (a subtest of the test t), tap.test("name", fn) and t.test("name", options, fn)
((call_expression
  function: (member_expression
    object: (identifier) @_tap
    property: (property_identifier) @_tap_test)
  arguments: (arguments (string) (_))) @test.around
  (#any-of? @_tap "t" "tap")
  (#eq? @_tap_test "test"))

;; uvu: a suite's test, Add("name", fn) and Add.only("name", fn), where the file declares const Add = suite("add")
;; (uvu's suites are capitalized by convention; a call that is not a suite's is passed over when it is named)
((call_expression
  function: (identifier) @_uvu_suite
  arguments: (arguments (string) (_))) @test.around
  (#match? @_uvu_suite "^[A-Z]"))

((call_expression
  function: (member_expression
    object: (identifier) @_uvu_suite
    property: (property_identifier) @_uvu_only)
  arguments: (arguments (string) (_))) @test.around
  (#match? @_uvu_suite "^[A-Z]")
  (#eq? @_uvu_only "only"))

;; Deno's own: Deno.test("name", fn) and Deno.test("name", options, fn)
((call_expression
  function: (member_expression
    object: (identifier) @_deno
    property: (property_identifier) @_deno_test)
  arguments: (arguments (string) (_))) @test.around
  (#eq? @_deno "Deno")
  (#eq? @_deno_test "test"))

;; Deno.test.only("name", fn)
((call_expression
  function: (member_expression
    object: (member_expression
      object: (identifier) @_deno
      property: (property_identifier) @_deno_test)
    property: (property_identifier) @_deno_only)
  arguments: (arguments (string) (_))) @test.around
  (#eq? @_deno "Deno")
  (#eq? @_deno_test "test")
  (#eq? @_deno_only "only"))

;; Deno.test({ name: "name", fn }) and Deno.test(function name() {…})
((call_expression
  function: (member_expression
    object: (identifier) @_deno
    property: (property_identifier) @_deno_test)
  arguments: (arguments . [
    (object (pair key: (property_identifier) @_name_key value: (string)))
    (function_expression name: (identifier))
  ])) @test.around
  (#eq? @_deno "Deno")
  (#eq? @_deno_test "test")
  (#eq? @_name_key "name"))

;; tests and groups that the runner skips as written: describe.skip(…), it.todo(…), xit(…), xdescribe(…)
((call_expression
  function: (member_expression
    object: (identifier) @_skipped_call
    property: (property_identifier) @_skip_kind)) @test.skipped
  (#any-of? @_skipped_call "describe" "suite" "context" "test" "it")
  (#any-of? @_skip_kind "skip" "todo"))

((call_expression
  function: (identifier) @_skipped_call) @test.skipped
  (#any-of? @_skipped_call "xdescribe" "xcontext" "xit" "xtest"))

;; node-tap: t.test("name", { skip: true }, fn), t.test("name", { todo: true }, fn)
((call_expression
  function: (member_expression
    object: (identifier) @_tap
    property: (property_identifier) @_tap_test)
  arguments: (arguments (object (pair key: (property_identifier) @_tap_skip value: (true))))) @test.skipped
  (#any-of? @_tap "t" "tap")
  (#eq? @_tap_test "test")
  (#any-of? @_tap_skip "skip" "todo"))

;; Deno.test({ …, ignore: true }), Deno.test("name", { ignore: true }, fn), Deno.test.ignore(…)
((call_expression
  function: (member_expression
    object: (identifier) @_skipped_deno
    property: (property_identifier) @_skipped_deno_test)
  arguments: (arguments (object (pair key: (property_identifier) @_ignore_key value: (true))))) @test.skipped
  (#eq? @_skipped_deno "Deno")
  (#eq? @_skipped_deno_test "test")
  (#eq? @_ignore_key "ignore"))

((call_expression
  function: (member_expression
    object: (member_expression
      object: (identifier) @_skipped_deno
      property: (property_identifier) @_skipped_deno_test)
    property: (property_identifier) @_skipped_deno_ignore)) @test.skipped
  (#eq? @_skipped_deno "Deno")
  (#eq? @_skipped_deno_test "test")
  (#eq? @_skipped_deno_ignore "ignore"))
