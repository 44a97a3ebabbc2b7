//! Integer arithmetic in paths (`[$length(x)-1]` once resolved is `[3-1]`):
//! LPS evaluates a bracket that holds only digits, spaces, `.`, `+ - * /`
//! and parentheses (`ArithmeticExpressionEvaluator`), with integer division.

/// True when `text` is made only of what LPS's arithmetic takes.
pub fn is_arithmetic(text: &str) -> bool {
    !text.trim().is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_whitespace() || "+-*/().".contains(c))
}

/// The value of an integer expression, if it is one.
pub fn eval_int(text: &str) -> Option<i64> {
    if !is_arithmetic(text) {
        return None;
    }
    let tokens: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut p = Parser { t: &tokens, i: 0 };
    let v = p.sum()?;
    (p.i == tokens.len()).then_some(v)
}

struct Parser<'a> {
    t: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.t.get(self.i).copied()
    }

    fn sum(&mut self) -> Option<i64> {
        let mut v = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek() {
            self.i += 1;
            let r = self.product()?;
            v = if op == '+' {
                v.checked_add(r)?
            } else {
                v.checked_sub(r)?
            };
        }
        Some(v)
    }

    fn product(&mut self) -> Option<i64> {
        let mut v = self.unary()?;
        while let Some(op @ ('*' | '/')) = self.peek() {
            self.i += 1;
            let r = self.unary()?;
            v = if op == '*' {
                v.checked_mul(r)?
            } else {
                v.checked_div(r)?
            };
        }
        Some(v)
    }

    fn unary(&mut self) -> Option<i64> {
        match self.peek()? {
            '-' => {
                self.i += 1;
                self.unary()?.checked_neg()
            }
            '+' => {
                self.i += 1;
                self.unary()
            }
            '(' => {
                self.i += 1;
                let v = self.sum()?;
                (self.peek()? == ')').then(|| self.i += 1)?;
                Some(v)
            }
            _ => self.number(),
        }
    }

    fn number(&mut self) -> Option<i64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let digits: String = self.t[start..self.i].iter().collect();
        digits.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_expressions() {
        assert_eq!(eval_int("3-1"), Some(2));
        assert_eq!(eval_int(" 2 * (3 + 4) "), Some(14));
        assert_eq!(eval_int("7/2"), Some(3));
        assert_eq!(eval_int("-4+1"), Some(-3));
        assert_eq!(eval_int("1/0"), None);
        assert_eq!(eval_int("a-1"), None);
        assert_eq!(eval_int("1.5"), None);
        assert_eq!(eval_int("(1"), None);
    }
}
