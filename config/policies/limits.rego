# Size limits on buys: one position, all positions together, one position against equity, and
# the number of positions. A sell only reduces risk, so these rules never look at sells.
# Exactly at a limit is allowed; one unit above it is denied.
package sigmax.orders

import rego.v1

violation contains "max_position_size" if {
	is_buy
	position_after > input.limits.max_position_size_micro_usd
}

describe("max_position_size") := concat("", [
	"max_position_size: position would be ", usd(position_after),
	" USD, limit ", usd(input.limits.max_position_size_micro_usd), " USD",
])

violation contains "max_exposure" if {
	is_buy
	exposure_after > input.limits.max_exposure_micro_usd
}

describe("max_exposure") := concat("", [
	"max_exposure: open exposure would be ", usd(exposure_after),
	" USD, limit ", usd(input.limits.max_exposure_micro_usd), " USD",
])

# position / equity > limit_bp / 10000, cross-multiplied so that no division is needed.
violation contains "max_position_pct_of_equity" if {
	is_buy
	position_after * 10000 > input.limits.max_position_pct_of_equity_bp * input.account.equity_micro_usd
}

describe("max_position_pct_of_equity") := concat("", [
	"max_position_pct_of_equity: position would be ", usd(position_after),
	" USD, ", position_pct_text, "% of equity ", usd(input.account.equity_micro_usd),
	" USD, limit ", pct(input.limits.max_position_pct_of_equity_bp), "%",
])

# Rounded down to the basis point; with no equity every position is "all of it and more".
position_pct_text := pct((scaled - (scaled % equity)) / equity) if {
	scaled := position_after * 10000
	equity := input.account.equity_micro_usd
	input.account.equity_micro_usd > 0
}

position_pct_text := "more than 100" if input.account.equity_micro_usd == 0

violation contains "max_open_positions" if {
	is_buy
	opens_new_position
	input.account.open_positions >= input.limits.max_open_positions
}

describe("max_open_positions") := concat("", [
	"max_open_positions: ", input.order.symbol, " would open position ",
	format_int(input.account.open_positions + 1, 10), ", limit ",
	format_int(input.limits.max_open_positions, 10), " open positions",
])
