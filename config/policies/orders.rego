# SIGMAX order compliance: the verdict every order gets before it reaches a venue.
#
# The input is built by sigmax.safety.policy_input (see README.md beside this file). Every
# amount is an integer in a fixed unit so that comparisons are exact in every evaluator:
#   *_micro_usd  USD (USDT) in millionths of a dollar
#   *_e8         quantities and prices in units of 1e-8
#   *_bp         percentages in basis points (1 bp = 0.01 %)
#   *_milli      leverage in thousandths
#
# Each rule adds its name to `violation` and may give a detailed text as `describe(name)`, which
# is only computed for the rules that are broken. A rule whose text cannot be rendered still
# denies, with a short fallback text: a formatting problem must never turn a denial into an
# approval. Texts are built with concat(), not sprintf(): rego-cpp 1.5 quotes a concat() result
# passed to sprintf's %s, and truncates %d to 32 bits; numbers go through usd(), qty(), pct(),
# leverage() or format_int().
package sigmax.orders

import rego.v1

deny contains {"rule": rule, "message": describe(rule)} if {
	some rule in violation
}

deny contains {"rule": rule, "message": sprintf("%s: order denied", [rule])} if {
	some rule in violation
	not describe(rule)
}

allow := count(deny) == 0

is_buy if input.order.side == "buy"

is_sell if input.order.side == "sell"

# -- well-formed input -----------------------------------------------------------------------
# A rule reading a missing field is undefined and would not deny, so the input's shape is a
# rule of its own: a malformed input is denied instead of passing unchecked.

violation contains "malformed_input" if not well_formed

# The quick test every order passes, written inline because each function call costs time in
# rego-cpp; the field-by-field list in `malformed` is only worked out for the message of an
# input that fails it.
well_formed if {
	every x in [
		input.order.qty_e8, input.order.price_e8, input.order.notional_micro_usd,
		input.order.leverage_milli, input.account.equity_micro_usd, input.account.cash_micro_usd,
		input.account.open_positions, input.limits.max_position_size_micro_usd,
		input.limits.max_exposure_micro_usd, input.limits.max_position_pct_of_equity_bp,
		input.limits.max_open_positions, input.limits.max_leverage_milli,
	] {
		is_number(x)
		x >= 0
	}
	every x in [
		input.order.symbol, input.order.base, input.order.quote, input.order.market_type,
		input.order.source, input.limits.quote_asset,
	] {
		is_string(x)
	}
	input.order.side in {"buy", "sell"}
	is_object(input.account.positions_micro_usd)
	every key, value in input.account.positions_micro_usd {
		is_string(key)
		is_number(value)
		value >= 0
	}
	is_object(input.account.holdings_e8)
	every key, value in input.account.holdings_e8 {
		is_string(key)
		is_number(value)
		value >= 0
	}
	is_array(input.limits.allowed_assets)
	every x in input.limits.allowed_assets {
		is_string(x)
	}
	is_array(input.limits.blacklist)
	every x in input.limits.blacklist {
		is_string(x)
	}
}

describe("malformed_input") := concat("", ["malformed_input: ", concat("; ", sort(malformed))])

required_numbers := [
	["order", "qty_e8"],
	["order", "price_e8"],
	["order", "notional_micro_usd"],
	["order", "leverage_milli"],
	["account", "equity_micro_usd"],
	["account", "cash_micro_usd"],
	["account", "open_positions"],
	["limits", "max_position_size_micro_usd"],
	["limits", "max_exposure_micro_usd"],
	["limits", "max_position_pct_of_equity_bp"],
	["limits", "max_open_positions"],
	["limits", "max_leverage_milli"],
]

required_texts := [
	["order", "symbol"],
	["order", "base"],
	["order", "quote"],
	["order", "market_type"],
	["order", "source"],
	["limits", "quote_asset"],
]

malformed contains sprintf("%s.%s must be a number >= 0", [path[0], path[1]]) if {
	some path in required_numbers
	not number_at_least_zero(object.get(input, path, null))
}

malformed contains sprintf("%s.%s must be text", [path[0], path[1]]) if {
	some path in required_texts
	not is_string(object.get(input, path, null))
}

malformed contains "order.side must be buy or sell" if {
	not input.order.side in {"buy", "sell"}
}

malformed contains sprintf("%s.%s must map symbols to numbers >= 0", [path[0], path[1]]) if {
	some path in [["account", "positions_micro_usd"], ["account", "holdings_e8"]]
	not amounts_by_symbol(object.get(input, path, null))
}

malformed contains sprintf("limits.%s must be a list of text", [name]) if {
	some name in ["allowed_assets", "blacklist"]
	not text_list(object.get(input.limits, name, null))
}

number_at_least_zero(x) if {
	is_number(x)
	x >= 0
}

amounts_by_symbol(m) if {
	is_object(m)
	every key, value in m {
		is_string(key)
		number_at_least_zero(value)
	}
}

text_list(xs) if {
	is_array(xs)
	every x in xs {
		is_string(x)
	}
}

# -- figures shared by the rules --------------------------------------------------------------

position_now := object.get(input.account.positions_micro_usd, input.order.symbol, 0)

held_now := object.get(input.account.holdings_e8, input.order.symbol, 0)

# The position value if this buy fills.
position_after := position_now + input.order.notional_micro_usd

exposure_now := sum([value | some value in input.account.positions_micro_usd])

exposure_after := exposure_now + input.order.notional_micro_usd

opens_new_position if {
	held_now == 0
	position_now == 0
}

# -- rendering figures without floating point ---------------------------------------------
# Integer arithmetic only: evaluators differ in how they print fractions. No sprintf("%d"):
# rego-cpp 1.5 truncates it to 32 bits (8709234802 prints as 119300210). Whole numbers are
# printed with format_int, the fraction zero-padded by printing it plus a power of ten and
# dropping the leading 1, and a quotient is taken of an exact multiple (x - x % n) / n: a
# division that leaves a remainder goes through floating point and is wrong above 2^53.

# 15000000 micro-USD -> "15.00" (rounded half up to the cent).
usd(micro) := concat(".", [format_int(whole, 10), substring(format_int((cents % 100) + 100, 10), 1, 2)]) if {
	cents := ((micro + 5000) - ((micro + 5000) % 10000)) / 10000
	whole := (cents - (cents % 100)) / 100
}

# 550 bp -> "5.50".
pct(bp) := concat(".", [format_int((bp - (bp % 100)) / 100, 10), substring(format_int((bp % 100) + 100, 10), 1, 2)])

# 150000000 (1e-8 units) -> "1.50000000".
qty(e8) := concat(".", [
	format_int((e8 - (e8 % 100000000)) / 100000000, 10),
	substring(format_int((e8 % 100000000) + 100000000, 10), 1, 8),
])

# 1000 -> "1.000".
leverage(milli) := concat(".", [format_int((milli - (milli % 1000)) / 1000, 10), substring(format_int((milli % 1000) + 1000, 10), 1, 3)])
