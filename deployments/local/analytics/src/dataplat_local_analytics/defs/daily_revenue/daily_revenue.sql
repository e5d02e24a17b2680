select
    cast(order_ts as date) as order_date,
    count(*) as orders,
    sum(total_amount) as revenue
from raw_shop.orders
where status <> 'cancelled'
group by 1
